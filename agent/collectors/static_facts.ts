/**
 * Facts about the host that do not change while the agent runs, sent once in the hello.
 *
 * On Linux the OS comes from os-release(5) (/etc/os-release, else /usr/lib/os-release), the
 * kernel and architecture from node:os: no child process. si.osInfo() is not used there: it starts
 * 14 child processes from 5 shell commands, and runs `hostname -f` through execSync, which blocks
 * the agent's event loop until name resolution gives up. On a host whose name is not in
 * /etc/hosts and whose DNS server does not answer, that measured 6.2 s: no samples meanwhile, and
 * the time limit below could not fire, so the OS and CPU facts were lost as "timed out". Other
 * systems still use si.osInfo().
 *   si.cpu(): ~15 ms (~23 ms the first time), 7 child processes from 3 shell commands (lscpu twice,
 *     the cpufreq governor, dmidecode where installed), all asynchronous.
 * So never call this per sample: factsFingerprint() costs microseconds and no process, and changes
 * whenever a fact can have changed, so the agent re-runs collectStaticFacts() only then.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import si from 'systeminformation';
import { MAX_ARCH_BYTES, MAX_CPU_CORES, MAX_CPU_MODEL_BYTES, MAX_KERNEL_BYTES, MAX_OS_BYTES } from '../../shared/protocol.ts';
import { cleanText, reasonFromError, withTimeout } from './types.ts';

/** The optional facts of a hello, named as the protocol names them. */
export interface StaticFacts {
  os?: string;
  kernel?: string;
  arch?: string;
  cpu_model?: string;
  cpu_cores?: number;
}

export interface StaticFactsResult {
  facts: StaticFacts;
  /** Fact name -> why it could not be found. */
  missing: Record<string, string>;
}

/** The parts of si.osInfo() and si.cpu() used here. */
export interface RawOsInfo {
  readonly distro?: unknown;
  readonly release?: unknown;
  readonly kernel?: unknown;
  readonly arch?: unknown;
}
export interface RawCpu {
  readonly manufacturer?: unknown;
  readonly brand?: unknown;
  readonly cores?: unknown;
}

/** Values from node:os, used when systeminformation gives nothing usable. */
export interface StaticFactsFallback {
  kernel?: string;
  arch?: string;
  cpuCores?: number;
}

/** systeminformation's placeholder for a value it could not find. */
const SI_UNKNOWN = 'unknown';

/** Cleaned text, or undefined for a non-string, an empty string or si's "unknown". */
function known(v: unknown, maxBytes: number): string | undefined {
  if (typeof v !== 'string') return undefined;
  const text = cleanText(v, maxBytes);
  return text === '' || text.toLowerCase() === SI_UNKNOWN ? undefined : text;
}

function validCores(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_CPU_CORES ? v : undefined;
}

/**
 * Joins "Debian GNU/Linux" + "12", or "AMD" + "EPYC", without repeating a part that is already
 * there ("Ubuntu 22.04" + "22.04", "Intel" + "Intel Xeon").
 */
function joinKnown(first: string | undefined, second: string | undefined, maxBytes: number): string | undefined {
  if (first === undefined || second === undefined) return first ?? second;
  if (first === second || first.endsWith(` ${second}`)) return first;
  return cleanText(second.startsWith(`${first} `) ? second : `${first} ${second}`, maxBytes);
}

export function parseStaticFacts(osInfo: RawOsInfo, cpu: RawCpu, fallback: StaticFactsFallback = {}): StaticFactsResult {
  const facts: StaticFacts = {};
  const missing: Record<string, string> = {};
  const distro = known(osInfo.distro, MAX_OS_BYTES);
  // A release number without a distribution name ("12") says nothing, so it is not sent alone.
  const osName = distro === undefined ? undefined : joinKnown(distro, known(osInfo.release, MAX_OS_BYTES), MAX_OS_BYTES);
  const kernel = known(osInfo.kernel, MAX_KERNEL_BYTES) ?? known(fallback.kernel, MAX_KERNEL_BYTES);
  const arch = known(osInfo.arch, MAX_ARCH_BYTES) ?? known(fallback.arch, MAX_ARCH_BYTES);
  const cpuModel = joinKnown(known(cpu.manufacturer, MAX_CPU_MODEL_BYTES), known(cpu.brand, MAX_CPU_MODEL_BYTES), MAX_CPU_MODEL_BYTES);
  const cores = validCores(cpu.cores) ?? validCores(fallback.cpuCores);

  if (osName !== undefined) facts.os = osName;
  else missing.os = 'no distribution name (os-release NAME, or si.osInfo())';
  if (kernel !== undefined) facts.kernel = kernel;
  else missing.kernel = 'neither si.osInfo() nor os.release() gave a kernel';
  if (arch !== undefined) facts.arch = arch;
  else missing.arch = 'neither si.osInfo() nor os.arch() gave an architecture';
  if (cpuModel !== undefined) facts.cpu_model = cpuModel;
  else missing.cpu_model = 'si.cpu() gave no manufacturer or brand';
  if (cores !== undefined) facts.cpu_cores = cores;
  else missing.cpu_cores = `neither si.cpu() nor os.cpus() gave a core count from 1 to ${MAX_CPU_CORES}`;
  return { facts, missing };
}

/** Where os-release(5) says to look, in order. */
export const OS_RELEASE_PATHS: readonly string[] = ['/etc/os-release', '/usr/lib/os-release'];
/** Longest os-release file read (real ones are under 1 KiB). */
const MAX_OS_RELEASE_BYTES = 64 * 1024;

/**
 * The distribution's name and version from the text of an os-release file: NAME and VERSION_ID,
 * as si.osInfo() reports them ("Debian GNU/Linux" and "12"). Values may be quoted with " or ' and
 * hold backslash escapes (os-release(5)); comments and malformed lines are skipped.
 */
export function parseOsRelease(text: string): RawOsInfo {
  const vars = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const m = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/u.exec(raw);
    if (!m) continue;
    let v = m[2]!.trim();
    const q = v[0];
    if ((q === '"' || q === "'") && v.length >= 2 && v.endsWith(q)) v = v.slice(1, -1).replace(/\\(.)/gu, '$1');
    vars.set(m[1]!, v);
  }
  const out: { distro?: string; release?: string } = {};
  const name = vars.get('NAME');
  const version = vars.get('VERSION_ID');
  if (name !== undefined) out.distro = name;
  if (version !== undefined) out.release = version;
  return out;
}

/** The OS facts on Linux without a child process; `paths` in order, the first readable wins. */
export function readLinuxOsInfo(paths: readonly string[] = OS_RELEASE_PATHS): { osInfo: RawOsInfo; why: string | null } {
  const errors: string[] = [];
  for (const path of paths) {
    try {
      const text = readFileSync(path, 'utf8');
      return { osInfo: { ...parseOsRelease(text.slice(0, MAX_OS_RELEASE_BYTES)), kernel: os.release(), arch: os.arch() }, why: null };
    } catch (err) {
      errors.push(`${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return { osInfo: { kernel: os.release(), arch: os.arch() }, why: `no os-release file (${errors.join(', ')})` };
}

/** Reads the facts once; each systeminformation call is bounded by `timeoutMs`. Never rejects. */
export async function collectStaticFacts(timeoutMs: number, platform: NodeJS.Platform = process.platform): Promise<StaticFactsResult> {
  const linux = platform === 'linux' ? readLinuxOsInfo() : null;
  const [osInfo, cpu] = await Promise.allSettled([
    linux ? Promise.resolve(linux.osInfo) : withTimeout(si.osInfo(), timeoutMs, 'si.osInfo()'),
    withTimeout(si.cpu(), timeoutMs, 'si.cpu()'),
  ]);
  const fallback: StaticFactsFallback = { kernel: os.release(), arch: os.arch(), cpuCores: os.cpus().length };
  const result = parseStaticFacts(
    osInfo.status === 'fulfilled' ? osInfo.value : {},
    cpu.status === 'fulfilled' ? cpu.value : {},
    fallback,
  );
  // A failed call explains its own missing facts better than "gave no distro".
  if (osInfo.status === 'rejected' && result.missing.os !== undefined) result.missing.os = reasonFromError(osInfo.reason);
  if (linux?.why && result.missing.os !== undefined) result.missing.os = linux.why;
  if (cpu.status === 'rejected' && result.missing.cpu_model !== undefined) result.missing.cpu_model = reasonFromError(cpu.reason);
  return result;
}

/**
 * A cheap key that changes when a static fact may have changed: kernel release, architecture,
 * online core count and model (os.cpus(), ~0.1 ms) and the text of /etc/os-release (a distro
 * upgrade rewrites it). No child process.
 */
export function factsFingerprint(): string {
  let osRelease = '';
  try {
    osRelease = readFileSync('/etc/os-release', 'utf8');
  } catch {
    // Not Linux, or a minimal container: the other parts still tell a kernel or CPU change.
  }
  const cpus = os.cpus();
  return JSON.stringify([os.release(), os.arch(), cpus.length, cpus[0]?.model ?? '', osRelease]);
}
