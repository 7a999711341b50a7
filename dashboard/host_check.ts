/**
 * Which names the dashboard answers to when it has no password: the guard against DNS rebinding.
 *
 * A web page the operator visits can point a name of its own (attacker.example) at 127.0.0.1
 * once the browser has loaded it, then read the dashboard as same-origin: a loopback address
 * keeps other machines out, not the operator's own browser. Such a request carries the
 * attacker's name in its Host header, so without a password the dashboard answers only requests
 * whose Host is an IP address (no name to rebind), `localhost` or a name under `.localhost`
 * (which resolve to this machine alone), or a name the operator allowed
 * (`--http-allowed-hosts`: a reverse proxy's public name, a LAN name with `--http-token none`).
 * With a password the check is not needed: the attacker's origin has no credentials to send.
 *
 * Pure: the header in, a verdict out.
 */
import { isIP } from 'node:net';
import { ConfigError } from '../shared/errors.ts';

/** Names in --http-allowed-hosts, at most. */
export const MAX_ALLOWED_HOSTS = 64;
/** A DNS name: labels of letters, digits and inner hyphens, dot-separated, 253 characters at most. */
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * The value of --http-allowed-hosts: comma-separated names, each exact (`sentinel.lan`) or, with
 * a leading dot, a domain and every name under it (`.example.org`). Lower-cased.
 */
export function parseAllowedHosts(raw: string, name: string): readonly string[] {
  const names = raw.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  if (names.length > MAX_ALLOWED_HOSTS) throw new ConfigError(name, `at most ${MAX_ALLOWED_HOSTS} names, got ${names.length}`);
  for (const n of names) {
    const bare = n.startsWith('.') ? n.slice(1) : n;
    if (!DNS_NAME.test(bare)) throw new ConfigError(name, `"${n}" is not a host name (letters, digits, hyphens and dots; a leading dot for a whole domain)`);
  }
  return Object.freeze(names);
}

/**
 * The names a dashboard without a password answers besides IP addresses and localhost: those
 * allowed by --http-allowed-hosts, and the name it was told to listen on (`--http nas.lan:8080`),
 * which is what people then type.
 */
export function answeredHosts(listenHost: string, allowed: readonly string[]): readonly string[] {
  const name = hostName(listenHost.includes(':') ? `[${listenHost}]` : listenHost);
  if (name === null || isIP(name) !== 0 || allowed.includes(name)) return allowed;
  return Object.freeze([...allowed, name]);
}

/** The name part of a Host header (`name:port`, `[v6]:port`), lower-cased, without a trailing dot; null when malformed. */
export function hostName(header: string): string | null {
  const h = header.trim().toLowerCase();
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]\s]+))(?::\d{1,5})?$/.exec(h);
  if (!m) return null;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? m[1] : null;
  return m[2]!.endsWith('.') ? m[2]!.slice(0, -1) : m[2]!;
}

/**
 * Whether a request with Host header `header` may be answered by a dashboard without a password.
 * No header at all (HTTP/1.0 tools) passes: every browser sends one, and the attack needs a browser.
 */
export function hostAllowed(header: string | undefined, allowed: readonly string[]): boolean {
  if (header === undefined) return true;
  const name = hostName(header);
  if (name === null) return false;
  if (isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost')) return true;
  for (const a of allowed) {
    if (a.startsWith('.') ? name === a.slice(1) || name.endsWith(a) : name === a) return true;
  }
  return false;
}
