/**
 * Facts about the host that do not change while the agent runs, sent once in the hello.
 * Cost measured on Linux (Debian 12, 2 vCPU VM), so never call this per sample:
 *   si.osInfo(): ~22 ms (~40 ms the first time), 14 child processes from 5 shell commands (cat of
 *     the os-release files, dmesg, hostname -f, ip link, cat machine-id), most for fields unused here.
 *   si.cpu(): ~15 ms (~23 ms the first time), 7 child processes from 3 shell commands (lscpu twice,
 *     the cpufreq governor, dmidecode where installed).
 * Every few minutes is fine (~40 ms, 21 child processes); every slow round (15 s) is not worth it:
 * factsFingerprint() costs microseconds and no process, and changes whenever a fact can have
 * changed, so a caller re-runs collectStaticFacts() only then.
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
  else missing.os = 'si.osInfo() gave no distro';
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

/** Reads the facts once; each systeminformation call is bounded by `timeoutMs`. Never rejects. */
export async function collectStaticFacts(timeoutMs: number): Promise<StaticFactsResult> {
  const [osInfo, cpu] = await Promise.allSettled([
    withTimeout(si.osInfo(), timeoutMs, 'si.osInfo()'),
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
