/**
 * Which wire encoding: decode and encode of a realistic sample, per second on one core.
 * - plain map, as shipped: the guard walk + msgpackr unpack (what the collector does per frame)
 * - plain map, msgpackr alone: what the guard costs on top
 * - msgpackr records (shared structures): faster, but not standard msgpack (0x40-0x7f are
 *   reinterpreted), so an agent in another language could not produce it
 * - JSON, for scale
 */
import { Packr, Unpackr } from 'msgpackr';
import { decodeBody, encodeFrame } from '../../shared/frame_codec.ts';
import { checkMsgpackMap } from '../../shared/msgpack_guard.ts';
import { machine, opsPerSecond, table, writeResult } from './common.ts';

export const SAMPLE = {
  type: 'sample', seq: 123456, ts: 1795339419123, cpu_pct: 37.4, load_1m: 1.27, load_5m: 0.98, load_15m: 0.71,
  mem_total_bytes: 33_554_432_000, mem_used_bytes: 12_884_901_888, mem_available_bytes: 20_669_530_112,
  swap_total_bytes: 8_589_934_592, swap_used_bytes: 268_435_456, uptime_s: 1_234_567,
};

export function runCodecBench(): Record<string, unknown> {
  const plainFrame = encodeFrame(SAMPLE);
  const plainBody = plainFrame.subarray(4);
  const plainUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
  // Records need both sides to share the structure table: one array, handed to both.
  const structures: object[] = [];
  const recPackr = new Packr({ useRecords: true, structures });
  const recBody = recPackr.pack(SAMPLE);
  const recUnpackr = new Unpackr({ useRecords: true, structures });
  const json = JSON.stringify(SAMPLE);
  const jsonBuf = Buffer.from(json);

  const decode = {
    'plain + guard (shipped)': opsPerSecond(() => decodeBody(plainBody)),
    'guard walk alone': opsPerSecond(() => checkMsgpackMap(plainBody, 0, plainBody.length)),
    'plain, msgpackr alone': opsPerSecond(() => plainUnpackr.unpack(plainBody)),
    'msgpackr records': opsPerSecond(() => recUnpackr.unpack(recBody)),
    'JSON.parse': opsPerSecond(() => JSON.parse(jsonBuf.toString('utf8'))),
  };
  const encode = {
    'plain frame (shipped)': opsPerSecond(() => encodeFrame(SAMPLE)),
    'msgpackr records': opsPerSecond(() => recPackr.pack(SAMPLE)),
    'JSON.stringify': opsPerSecond(() => Buffer.from(JSON.stringify(SAMPLE))),
  };
  const shipped = decode['plain + guard (shipped)'];
  const rows = [
    ...Object.entries(decode).map(([name, rate]) => ({ op: 'decode', variant: name, 'ops/s': Math.round(rate), 'µs/op': (1e6 / rate).toFixed(2), 'vs shipped': (rate / shipped).toFixed(2) })),
    ...Object.entries(encode).map(([name, rate]) => ({ op: 'encode', variant: name, 'ops/s': Math.round(rate), 'µs/op': (1e6 / rate).toFixed(2), 'vs shipped': (rate / encode['plain frame (shipped)']).toFixed(2) })),
  ];
  const sizes = { plain_body_bytes: plainBody.length, records_body_bytes: recBody.length, json_bytes: json.length };
  // At 10,000 hosts sending one sample a second, the share of one core decoding takes.
  const coreShareAt10k = 10_000 / shipped;
  return { rows, sizes, decode, encode, core_share_decoding_10k_hosts: coreShareAt10k };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = runCodecBench();
  const m = machine();
  console.log(`codec: ${m.cores} cores, ${m.model}, node ${m.node}\n`);
  console.log(table(r['rows'] as Array<Record<string, string | number>>));
  console.log(`\nsizes: ${JSON.stringify(r['sizes'])}`);
  console.log(`one core decoding 10,000 hosts at 1 sample/s: ${((r['core_share_decoding_10k_hosts'] as number) * 100).toFixed(1)} % busy`);
  console.log(`written: ${writeResult('codec', r)}`);
}
