/**
 * The command the collector prints for installing the agent as a service on another machine
 * (scripts/install-agent.sh). Pure: the caller passes the addresses as other machines reach
 * them (reachableAddress in app.ts).
 *
 * When the dashboard can be reached from other machines, one line fetches the script and the
 * agent bundle from it (GET /install/agent.sh and /install/agent.tar.gz, served without the
 * dashboard password); when it listens on loopback only (the default), the command is the one
 * for a checkout of Cluster Sentinel, with a note saying how to get the one-line form.
 */
import { formatHostPort, isLoopback, type HostPort } from '../shared/config.ts';

export interface InstallCommandInput {
  /** Where the dashboard listens, as bound. */
  http: HostPort;
  /** The dashboard's address as other machines reach it (a wildcard bind replaced). */
  httpReachable: HostPort;
  /** The dashboard speaks HTTPS (--https-cert). */
  https: boolean;
  /** Where agents connect, as other machines reach it. */
  agents: HostPort;
  /** The token the new machine's agent presents. */
  token: string;
  /** The agents' port speaks TLS (--tls-cert): the new machine needs the CA's certificate. */
  agentTls: boolean;
}

export interface InstallCommand {
  /** The line to paste on the new machine. */
  command: string;
  /** True when the line fetches everything from this collector; false when it needs a checkout. */
  oneLine: boolean;
  /** Lines to print under the command. */
  notes: string[];
}

/** Stands for the private CA's certificate, which the user copies to the new machine. */
export const CA_PLACEHOLDER = 'CA.pem';

const SHELL_SAFE = /^[A-Za-z0-9@%+=:,./_-]+$/u;

/** `s` as one shell word: bare when it holds nothing the shell would act on, else single-quoted. */
export function shellQuote(s: string): string {
  return SHELL_SAFE.test(s) ? s : `'${s.replace(/'/gu, `'\\''`)}'`;
}

/**
 * `--flag VALUE` as one or two shell words of a command line for Node's parseArgs: `--flag=VALUE`
 * when the value starts with '-' (a token given with --token, or an older token file), which
 * parseArgs would otherwise refuse as ambiguous.
 */
export function flagWords(flag: string, value: string): string {
  return value.startsWith('-') ? shellQuote(`--${flag}=${value}`) : `--${flag} ${shellQuote(value)}`;
}

/** The command that runs an agent by hand in a checkout, joined to this collector. */
export function agentCommand(agents: HostPort, token: string, agentTls: boolean): string {
  return `npm run agent -- ${flagWords('collector', formatHostPort(agents))} ${flagWords('token', token)}${agentTls ? ` --ca ${CA_PLACEHOLDER}` : ''}`;
}

export function installCommand(input: InstallCommandInput): InstallCommand {
  const args = ['--collector', formatHostPort(input.agents), '--token', input.token];
  if (input.agentTls) args.push('--ca', CA_PLACEHOLDER);
  const notes: string[] = [];
  if (input.agentTls) {
    notes.push(`${CA_PLACEHOLDER}: the private CA's certificate (ca.pem, never ca.key), copied to that machine first; leave --ca out if the collector's certificate is from a public CA.`);
  }
  const quoted = args.map(shellQuote).join(' ');
  if (isLoopback(input.http.host)) {
    notes.push(`Run it in a checkout of Cluster Sentinel after npm ci. For a one-line install that fetches everything from this collector, start it with --http 0.0.0.0:${input.http.port} (the dashboard then needs its password; the install files do not).`);
    return { command: `sudo sh scripts/install-agent.sh ${quoted}`, oneLine: false, notes };
  }
  const base = `${input.https ? 'https' : 'http'}://${formatHostPort(input.httpReachable)}`;
  // With HTTPS and a private CA (the usual pair with agent TLS), curl needs that CA too.
  const cacert = input.https && input.agentTls ? ` --cacert ${CA_PLACEHOLDER}` : '';
  const script = shellQuote(`${base}/install/agent.sh`);
  const tail = `sudo sh -s -- --from ${shellQuote(base)} ${quoted}`;
  notes.push(`Without curl: wget -qO-${input.https && input.agentTls ? ` --ca-certificate=${CA_PLACEHOLDER}` : ''} ${script} | ${tail}`);
  notes.push('As root, leave out sudo. It needs Node.js 20 or later there (it installs Debian\'s nodejs if node is missing), systemd, and this collector reachable.');
  return { command: `curl -fsSL${cacert} ${script} | ${tail}`, oneLine: true, notes };
}
