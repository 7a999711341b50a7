import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ip, NETNS_PREFIX, netnsOrSkip } from '../../helpers/netns.ts';
import { ROOT } from '../../helpers/procs.ts';
import {
  MAX_ARCH_BYTES,
  MAX_CPU_MODEL_BYTES,
  MAX_KERNEL_BYTES,
  MAX_OS_BYTES,
  PROTO_VERSION,
  parseHello,
} from '../../../shared/protocol.ts';
import {
  collectStaticFacts,
  factsFingerprint,
  parseOsRelease,
  parseStaticFacts,
  readLinuxOsInfo,
  type RawCpu,
  type RawOsInfo,
  type StaticFacts,
  type StaticFactsFallback,
} from '../../../agent/collectors/static_facts.ts';

function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../fixtures/si/${name}`, import.meta.url), 'utf8')) as T;
}

/** The facts must be accepted by the collector when sent in a hello. */
function assertValidHello(facts: StaticFacts): void {
  const hello = parseHello({ type: 'hello', proto: PROTO_VERSION, host: 'fixture-host', agent: 'test', token: 'secret', ...facts });
  for (const [name, value] of Object.entries(facts)) assert.equal(hello[name as keyof typeof hello], value);
}

const FACT_NAMES = ['os', 'kernel', 'arch', 'cpu_model', 'cpu_cores'] as const;
const NODE_FALLBACK: StaticFactsFallback = { kernel: '6.1.0-fallback', arch: 'arm64', cpuCores: 4 };

const CASES: ReadonlyArray<{
  name: string;
  osInfo: RawOsInfo;
  cpu: RawCpu;
  fallback?: StaticFactsFallback;
  facts: StaticFacts;
  missing: readonly string[];
}> = [
  {
    name: 'recorded os_info.json + cpu.json',
    osInfo: fixture('os_info.json'),
    cpu: fixture('cpu.json'),
    facts: { os: 'Debian GNU/Linux 12', kernel: '6.18.44-fc-v769', arch: 'x64', cpu_model: 'AMD EPYC', cpu_cores: 2 },
    missing: [],
  },
  {
    name: 'si placeholders without a fallback',
    osInfo: fixture('os_info_unknown.json'),
    cpu: fixture('cpu_unknown.json'),
    facts: {},
    missing: FACT_NAMES,
  },
  {
    name: 'si placeholders with the node:os fallback',
    osInfo: fixture('os_info_unknown.json'),
    cpu: fixture('cpu_unknown.json'),
    fallback: NODE_FALLBACK,
    facts: { kernel: '6.1.0-fallback', arch: 'arm64', cpu_cores: 4 },
    missing: ['os', 'cpu_model'],
  },
  {
    name: 'Intel brand keeps its trademark sign',
    osInfo: { distro: 'Ubuntu', release: '22.04.3 LTS', kernel: '5.15.0-91-generic', arch: 'x64' },
    cpu: { manufacturer: 'Intel', brand: 'Core™ i7-8700', cores: 12 },
    facts: { os: 'Ubuntu 22.04.3 LTS', kernel: '5.15.0-91-generic', arch: 'x64', cpu_model: 'Intel Core™ i7-8700', cpu_cores: 12 },
    missing: [],
  },
  {
    name: 'parts already present are not repeated',
    osInfo: { distro: 'Alpine Linux 3.19', release: '3.19', kernel: '6.6.8', arch: 'arm64' },
    cpu: { manufacturer: 'Intel', brand: 'Intel Xeon Gold 6338', cores: 128 },
    facts: { os: 'Alpine Linux 3.19', kernel: '6.6.8', arch: 'arm64', cpu_model: 'Intel Xeon Gold 6338', cpu_cores: 128 },
    missing: [],
  },
  {
    name: 'release alone is not an OS name; brand alone is a CPU model',
    osInfo: { distro: 'unknown', release: '12', kernel: '6.1.0', arch: 'x64' },
    cpu: { manufacturer: '', brand: 'Cortex-A72', cores: 4 },
    facts: { kernel: '6.1.0', arch: 'x64', cpu_model: 'Cortex-A72', cpu_cores: 4 },
    missing: ['os'],
  },
  {
    name: 'core count out of range falls back',
    osInfo: { distro: 'Debian GNU/Linux', release: '12', kernel: '6.1.0', arch: 'x64' },
    cpu: { manufacturer: 'AMD', brand: 'EPYC', cores: 1.5 },
    fallback: NODE_FALLBACK,
    facts: { os: 'Debian GNU/Linux 12', kernel: '6.1.0', arch: 'x64', cpu_model: 'AMD EPYC', cpu_cores: 4 },
    missing: [],
  },
  {
    name: 'everything absent',
    osInfo: {},
    cpu: {},
    facts: {},
    missing: FACT_NAMES,
  },
];

for (const c of CASES) {
  test(`parseStaticFacts: ${c.name}`, () => {
    const result = parseStaticFacts(c.osInfo, c.cpu, c.fallback);
    assert.deepEqual(result.facts, c.facts);
    assert.deepEqual(Object.keys(result.missing).sort(), [...c.missing].sort());
    assertValidHello(result.facts);
  });
}

test('parseStaticFacts: os_info_hostile.json loses control characters and fits the byte limits', () => {
  const { facts } = parseStaticFacts(fixture('os_info_hostile.json'), { manufacturer: 'Acme', brand: '€'.repeat(60), cores: 1 });
  assert.equal(facts.os, 'Evil [31mLinux 1 2');
  assert.ok(facts.kernel !== undefined && Buffer.byteLength(facts.kernel) <= MAX_KERNEL_BYTES);
  assert.ok(facts.kernel.startsWith('6.1.0-ünïcödé-kernel'));
  assert.equal(facts.arch, 'x86_64-with-a-ve');
  // 5 bytes of "Acme " leave 91 for 3-byte characters: 30 whole ones, never a broken one.
  assert.equal(facts.cpu_model, `Acme ${'€'.repeat(30)}`);
  assertValidHello(facts);
});

const LIMIT_CASES = [
  { name: 'os', max: MAX_OS_BYTES, osInfo: { distro: 'é'.repeat(100) }, cpu: {} },
  { name: 'kernel', max: MAX_KERNEL_BYTES, osInfo: { kernel: '😀'.repeat(40) }, cpu: {} },
  { name: 'arch', max: MAX_ARCH_BYTES, osInfo: { arch: 'a'.repeat(40) }, cpu: {} },
  { name: 'cpu_model', max: MAX_CPU_MODEL_BYTES, osInfo: {}, cpu: { brand: 'x€'.repeat(40) } },
] as const;

for (const c of LIMIT_CASES) {
  test(`parseStaticFacts: ${c.name} is cut to ${c.max} bytes at a character boundary`, () => {
    const { facts } = parseStaticFacts(c.osInfo, c.cpu);
    const text = facts[c.name];
    assert.ok(typeof text === 'string' && text.length > 0);
    const bytes = Buffer.from(text, 'utf8');
    assert.ok(bytes.length <= c.max, `${bytes.length} bytes`);
    assert.ok(bytes.length > c.max - 4, 'cut no more than one character short');
    assert.equal(bytes.toString('utf8'), text, 'no replacement characters');
    assert.ok(!text.includes('\ufffd'));
    assertValidHello(facts);
  });
}

test('collectStaticFacts on this machine gives each fact or a reason, fit for a hello', async () => {
  const { facts, missing } = await collectStaticFacts(10_000);
  for (const name of FACT_NAMES) assert.ok(facts[name] !== undefined || missing[name] !== undefined, name);
  assert.ok(facts.arch !== undefined && facts.kernel !== undefined, 'node:os always knows these');
  assertValidHello(facts);
});

test('factsFingerprint: stable between calls, cheap, and names the kernel it was taken on', () => {
  const started = performance.now();
  const a = factsFingerprint();
  const elapsedMs = performance.now() - started;
  assert.equal(factsFingerprint(), a);
  assert.ok(a.includes(JSON.stringify(os.release())));
  assert.ok(elapsedMs < 50, `took ${elapsedMs} ms`);
});

const OS_RELEASE = (name: string): string => readFileSync(new URL(`../../fixtures/os_release/${name}`, import.meta.url), 'utf8');

const OS_RELEASE_CASES: ReadonlyArray<[fixture: string, os: string | undefined]> = [
  ['debian12', 'Debian GNU/Linux 12'],
  ['ubuntu2204', 'Ubuntu 22.04'],
  ['alpine319', 'Alpine Linux 3.19.1'],
  ['quoting', 'Acme "Rolling" Linux 2024.1$x'],
  ['no_name', undefined],
];
for (const [fixture, osName] of OS_RELEASE_CASES) {
  test(`parseOsRelease: ${fixture} gives the OS fact ${JSON.stringify(osName)}, as si.osInfo() would`, () => {
    const { facts, missing } = parseStaticFacts(parseOsRelease(OS_RELEASE(fixture)), {});
    assert.equal(facts.os, osName);
    assert.equal(missing.os !== undefined, osName === undefined);
    assertValidHello(facts);
  });
}

test('parseOsRelease agrees with si.osInfo() on the recorded Debian host', () => {
  const viaSi = parseStaticFacts(fixture<RawOsInfo>('os_info.json'), {}).facts.os;
  assert.equal(parseStaticFacts(parseOsRelease(OS_RELEASE('debian12')), {}).facts.os, viaSi);
});

test('readLinuxOsInfo: the first os-release file that reads wins; none gives a reason naming each path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-osrel-'));
  try {
    const usrLib = join(dir, 'usr-lib-os-release');
    writeFileSync(usrLib, OS_RELEASE('alpine319'));
    const found = readLinuxOsInfo([join(dir, 'absent'), usrLib]);
    assert.equal(found.why, null);
    assert.deepEqual(found.osInfo, { distro: 'Alpine Linux', release: '3.19.1', kernel: os.release(), arch: os.arch() });
    const none = readLinuxOsInfo([join(dir, 'a'), join(dir, 'b')]);
    assert.match(none.why!, /no os-release file \(.*a: ENOENT, .*b: ENOENT\)/);
    assert.deepEqual(none.osInfo, { kernel: os.release(), arch: os.arch() });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('collectStaticFacts on Linux takes the OS from os-release, the same as this machine\'s file says', { skip: process.platform !== 'linux' && 'Linux only' }, async () => {
  const { facts } = await collectStaticFacts(10_000, 'linux');
  const file = readLinuxOsInfo();
  assert.equal(facts.os, parseStaticFacts(file.osInfo, {}).facts.os);
  assert.equal(facts.kernel, os.release());
});

/**
 * The hazard this replaced: si.osInfo() runs `hostname -f` through execSync, which blocks the
 * event loop until name resolution gives up. In a network namespace whose /etc/hosts lacks this
 * host's name and whose only DNS server is unreachable (`ip netns exec` mounts /etc/netns/NAME/*
 * over /etc), `hostname -f` waits seconds; collectStaticFacts there must not stall the loop.
 */
test('collectStaticFacts where the host name does not resolve and DNS never answers: the event loop never stalls', { timeout: 90_000 }, async (t) => {
  if (!netnsOrSkip(t)) return;
  const ns = `${NETNS_PREFIX}${process.pid}-nodns`;
  const etc = `/etc/netns/${ns}`;
  ip('netns', 'add', ns);
  try {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    // A link whose far end answers nothing: queries to the DNS server go out and are lost.
    ip('-n', ns, 'link', 'add', 'dns0', 'type', 'veth', 'peer', 'name', 'dns1');
    ip('-n', ns, 'addr', 'add', '10.231.99.2/24', 'dev', 'dns0');
    ip('-n', ns, 'link', 'set', 'dns0', 'up');
    ip('-n', ns, 'link', 'set', 'dns1', 'up');
    ip('-n', ns, 'route', 'add', 'default', 'via', '10.231.99.1');
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'hosts'), '127.0.0.1 localhost\n');
    writeFileSync(join(etc, 'resolv.conf'), 'nameserver 10.231.98.53\n');
    const started = Date.now();
    spawnSync('ip', ['netns', 'exec', ns, 'hostname', '-f'], { timeout: 30_000, stdio: 'ignore' });
    const hostnameMs = Date.now() - started;
    if (hostnameMs < 1000) {
      t.skip(`hostname -f gave up in ${hostnameMs} ms in this namespace: a stall could not be told from noise`);
      return;
    }
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', 'test/agent/collectors/static_facts_child.ts'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { ms: number; maxGapMs: number; facts: StaticFacts; missing: Record<string, string> };
    console.log(`no DNS: hostname -f took ${hostnameMs} ms; collectStaticFacts ${out.ms} ms, longest event-loop gap ${out.maxGapMs} ms`);
    assert.ok(out.maxGapMs < hostnameMs / 2 && out.maxGapMs < 1000, `event loop stalled ${out.maxGapMs} ms (hostname -f: ${hostnameMs} ms)`);
    assert.equal(out.facts.os, parseStaticFacts(readLinuxOsInfo().osInfo, {}).facts.os, JSON.stringify(out.missing));
    assert.ok(out.facts.cpu_model !== undefined, `cpu_model lost: ${out.missing.cpu_model}`);
  } finally {
    spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000, stdio: 'ignore' });
    rmSync(etc, { recursive: true, force: true });
  }
});
