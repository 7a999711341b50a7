/**
 * Which wire encoding, and what decoding a sample costs the collector: decode + validate of the
 * realistic sample (scripts/bench/sample.ts), per second on one core, all in one run.
 * - one pass (shipped): shared/sample_decoder.ts, plain msgpack map decoded and checked together
 * - general path: the guard walk + msgpackr + parseSample (what any other frame takes)
 * - msgpackr alone, and msgpackr records (shared structures) + parseSample: records are faster
 *   to decode but are not standard msgpack (0x40-0x7f are reinterpreted), so an agent in
 *   another language could not produce them
 * - JSON.parse + parseSample, for scale
 *
 * `npm run bench -- codec [--quick]`
 */
import { Packr, Unpackr } from 'msgpackr';
import { decodeBody, encodeFrame, type Message } from '../../shared/frame_codec.ts';
import { checkMsgpackMap } from '../../shared/msgpack_guard.ts';
import { parseSample } from '../../shared/protocol.ts';
import { decodeSampleFast } from '../../shared/sample_decoder.ts';
import { machine, opsPerSecond, table, writeResult } from './common.ts';
import { SAMPLE } from './sample.ts';

export { SAMPLE };

export function runCodecBench(quick = false): Record<string, unknown> {
  const ms = quick ? 150 : 400;
  const rounds = quick ? 3 : 5;
  const rate = (fn: () => void): number => opsPerSecond(fn, ms, rounds);
  const plainBody = encodeFrame(SAMPLE as Message).subarray(4);
  const plainUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
  // Records need both sides to share the structure table: one array, handed to both.
  const structures: object[] = [];
  const recPackr = new Packr({ useRecords: true, structures });
  const recBody = recPackr.pack(SAMPLE);
  const recUnpackr = new Unpackr({ useRecords: true, structures });
  const json = JSON.stringify(SAMPLE);
  const jsonBuf = Buffer.from(json);
  if (decodeSampleFast(plainBody) === null) throw new Error('the realistic sample does not take the one-pass path');

  const decode = {
    'one pass: decode + validate (shipped)': rate(() => decodeSampleFast(plainBody)),
    'general: guard + msgpackr + parseSample': rate(() => parseSample(decodeBody(plainBody))),
    'guard walk alone': rate(() => checkMsgpackMap(plainBody, 0, plainBody.length)),
    'msgpackr alone (no checks)': rate(() => plainUnpackr.unpack(plainBody)),
    'msgpackr records + parseSample': rate(() => parseSample(recUnpackr.unpack(recBody) as Message)),
    'msgpackr records alone (no checks)': rate(() => recUnpackr.unpack(recBody)),
    'JSON.parse + parseSample': rate(() => parseSample(JSON.parse(jsonBuf.toString('utf8')) as Message)),
  };
  const encode = {
    'plain frame (shipped)': rate(() => encodeFrame(SAMPLE as Message)),
    'msgpackr records': rate(() => recPackr.pack(SAMPLE)),
    'JSON.stringify': rate(() => Buffer.from(JSON.stringify(SAMPLE))),
  };
  const shipped = decode['one pass: decode + validate (shipped)'];
  const rows = [
    ...Object.entries(decode).map(([name, r]) => ({ op: 'decode', variant: name, 'ops/s': Math.round(r), 'µs/op': (1e6 / r).toFixed(2), 'vs shipped': (r / shipped).toFixed(2) })),
    ...Object.entries(encode).map(([name, r]) => ({ op: 'encode', variant: name, 'ops/s': Math.round(r), 'µs/op': (1e6 / r).toFixed(2), 'vs shipped': (r / encode['plain frame (shipped)']).toFixed(2) })),
  ];
  const sizes = { plain_body_bytes: plainBody.length, records_body_bytes: recBody.length, json_bytes: json.length };
  // At 19,000 hosts sending one sample a second, the share of one core decoding takes.
  const coreShareAt19k = 19_000 / shipped;
  return { rows, sizes, decode, encode, core_share_decoding_19k_hosts: coreShareAt19k };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = runCodecBench(process.argv.includes('--quick'));
  const m = machine();
  console.log(`codec: ${m.cores} cores, ${m.model}, node ${m.node}\n`);
  console.log(table(r['rows'] as Array<Record<string, string | number>>));
  console.log(`\nsizes: ${JSON.stringify(r['sizes'])}`);
  console.log(`one core decoding 19,000 hosts at 1 sample/s: ${((r['core_share_decoding_19k_hosts'] as number) * 100).toFixed(1)} % busy`);
  console.log(`written: ${writeResult('codec', r)}`);
}
