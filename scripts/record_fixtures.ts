/**
 * `npx tsx scripts/record_fixtures.ts [DIR]` (DIR defaults to test/fixtures): records the real
 * inputs the collectors' I/O halves read on this machine, so their pure parsers can be fed them on
 * any machine. Delta sources are read twice, GAP_MS apart. Host names, serials and UUIDs are
 * replaced, mount points outside /, /proc, /sys, /dev, /run and /boot renamed; only the 20 busiest
 * processes are kept. What this machine lacks (hwmon, thermal zones,
 * a GPU) is reported and not written: those fixtures are made by hand.
 *
 * Written: proc/{stat,diskstats,net_dev,pid_stat}_t{0,1}.txt, proc/mounts.txt, proc/cpuinfo_mhz.txt,
 * proc/sys_block.json, sys/recorded/... (hwmon and thermal files, where present),
 * si/recorded_{mem,graphics,os_info,cpu}.json.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import si from 'systeminformation';

const GAP_MS = 1000;
const TOP_PROCESSES = 20;
const dir = process.argv[2] ?? new URL('../test/fixtures/', import.meta.url).pathname;
const written: string[] = [];

function write(rel: string, text: string): void {
  const path = join(dir, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  written.push(`${rel} (${Buffer.byteLength(text)} B)`);
}
const read = (path: string): string => readFileSync(path, 'utf8');
const numeric = (path: string): string[] => readdirSync(path).filter((e) => /^\d+$/u.test(e));

function pidStats(): Map<string, string> {
  const out = new Map<string, string>();
  for (const pid of numeric('/proc')) {
    try { out.set(pid, read(`/proc/${pid}/stat`).trim()); } catch { /* gone since readdir */ }
  }
  return out;
}
const ticksOf = (line: string): number => {
  const rest = line.slice(line.lastIndexOf(')') + 1).trim().split(/\s+/u);
  return Number(rest[11]) + Number(rest[12]);
};

function snapshot(): Record<string, string> {
  return { stat: read('/proc/stat'), diskstats: read('/proc/diskstats'), net_dev: read('/proc/net/dev') };
}

const t0 = snapshot();
const p0 = pidStats();
await new Promise((r) => setTimeout(r, GAP_MS));
const t1 = snapshot();
const p1 = pidStats();
for (const [name, text] of Object.entries(t0)) write(`proc/${name}_t0.txt`, text);
for (const [name, text] of Object.entries(t1)) write(`proc/${name}_t1.txt`, text);
const busiest = [...p1.entries()].filter(([pid]) => p0.has(pid)).sort((a, b) => ticksOf(b[1]) - ticksOf(a[1])).slice(0, TOP_PROCESSES).map(([pid]) => pid);
write('proc/pid_stat_t0.txt', `${busiest.map((pid) => p0.get(pid)).join('\n')}\n`);
write('proc/pid_stat_t1.txt', `${busiest.map((pid) => p1.get(pid)).join('\n')}\n`);
// Mount points outside the usual system ones may name this machine's own layout: renamed.
const SYSTEM_MOUNT = /^\/(|proc|sys|dev|run|boot)(\/|$)/u;
let other = 0;
write('proc/mounts.txt', read('/proc/self/mounts').split('\n').map((line) => {
  const f = line.split(' ');
  if (f.length > 2 && !SYSTEM_MOUNT.test(f[1]!)) f[1] = `/mnt/recorded${other++}`;
  return f.join(' ');
}).join('\n'));
write('proc/cpuinfo_mhz.txt', `${read('/proc/cpuinfo').split('\n').filter((l) => /^(processor|model name|cpu MHz)\s*:/u.test(l)).join('\n')}\n`);
const sysBlock: Record<string, string> = {};
for (const name of readdirSync('/sys/block')) sysBlock[name] = readlinkSync(`/sys/block/${name}`);
write('proc/sys_block.json', `${JSON.stringify(sysBlock, null, 2)}\n`);

// Sensors: the files temperature.ts reads, under sys/recorded/ mirroring /sys.
let sensorFiles = 0;
for (const [base, pattern, dirPattern] of [
  ['/sys/class/hwmon', /^(name|temp\d+_(input|label))$/u, /^hwmon\d+$/u],
  ['/sys/class/thermal', /^(type|temp)$/u, /^thermal_zone\d+$/u],
] as const) {
  if (!existsSync(base)) continue;
  for (const sub of readdirSync(base).filter((d) => dirPattern.test(d))) {
    for (const file of readdirSync(`${base}/${sub}`).filter((f) => pattern.test(f))) {
      try { write(`sys/recorded${base}/${sub}/${file}`, read(`${base}/${sub}/${file}`)); sensorFiles++; } catch { /* EIO: disconnected sensor */ }
    }
  }
}

const ANON: Record<string, unknown> = { hostname: 'fixture-host', fqdn: 'fixture-host', serial: '00000000000000000000000000000000', uuid: '', build: '' };
const anonymise = (o: object): object => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, k in ANON ? ANON[k] : v]));
write('si/recorded_mem.json', `${JSON.stringify(await si.mem(), null, 2)}\n`);
const graphics = await si.graphics();
write('si/recorded_graphics.json', `${JSON.stringify({ controllers: graphics.controllers.map(anonymise) }, null, 2)}\n`);
write('si/recorded_os_info.json', `${JSON.stringify(anonymise(await si.osInfo()), null, 2)}\n`);
write('si/recorded_cpu.json', `${JSON.stringify(await si.cpu(), null, 2)}\n`);

console.log(`recorded into ${dir}:\n  ${written.join('\n  ')}`);
if (sensorFiles === 0) console.log('no hwmon or thermal-zone temperature on this machine: sensor fixtures are hand-made (test/fixtures/sys/)');
if (graphics.controllers.length === 0) console.log('si.graphics() found no controller: GPU fixtures are hand-made (test/fixtures/si/graphics_*.json)');
process.exit(0);
