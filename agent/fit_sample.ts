/**
 * Keeps a sample within what the collector accepts: every table cut to the rows worth sending
 * (the rest counted in `truncated`), then, if the frame would still exceed the collector's frame
 * limit, whole tables left out, largest first, each named in `missing` with the reason. A machine
 * with hundreds of container interfaces or mounts still gets its sample through: a frame over the
 * limit would cost the whole session. Pure.
 */
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, type Message } from '../shared/frame_codec.ts';
import { MSG_SAMPLE, TABLES, type TableName } from '../shared/protocol.ts';

/**
 * Rows of each table worth sending: at least what the collector keeps (shared/shm_layout.ts
 * TABLE_BOUNDS), with room for a collector built with larger bounds. Tables are sorted by the
 * collectors (by name; processes busiest first), so a cut keeps a stable, meaningful part.
 */
export const SENT_ROWS: Readonly<Record<TableName, number>> = Object.freeze({
  cpu_cores_pct: 1024,
  temp_cores_c: 1024,
  fs: 64,
  net: 64,
  gpu: 16,
  procs_top: 16,
  power_zones: 16,
});

/** Room left for the seq the sender adds and msgpack's growth of small integers, bytes. */
const SEQ_ROOM_BYTES = 16;

/** A copy of `body` (a sample without `type` and `seq`) that fits in `maxFrameBytes`. */
export function fitSample(body: Message, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Message {
  return fitSampleSized(body, maxFrameBytes).body;
}

/**
 * fitSample, and the size of the result's frame with seq 0, bytes: the sender hands it to the
 * sample buffer, which would otherwise encode the sample once more just to count it.
 */
export function fitSampleSized(body: Message, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): { body: Message; frameBytes: number } {
  const out: Message = { ...body };
  const truncated: Record<string, number> = { ...(body['truncated'] as Record<string, number> | undefined) };
  for (const t of TABLES) {
    const rows = out[t.name];
    if (!Array.isArray(rows) || rows.length <= SENT_ROWS[t.name]) continue;
    truncated[t.name] = (truncated[t.name] ?? 0) + rows.length - SENT_ROWS[t.name];
    out[t.name] = rows.slice(0, SENT_ROWS[t.name]);
  }
  if (Object.keys(truncated).length > 0) out['truncated'] = truncated;
  const frameBytes = (m: Message): number => encodeFrame({ type: MSG_SAMPLE, seq: 0, ...m }).length;
  let bytes = frameBytes(out);
  if (bytes + SEQ_ROOM_BYTES <= maxFrameBytes) return { body: out, frameBytes: bytes };
  const bySize = TABLES.map((t) => t.name).filter((n) => Array.isArray(out[n]))
    .map((n) => ({ n, bytes: encodeFrame({ [n]: out[n] }).length }))
    .sort((a, b) => b.bytes - a.bytes);
  const missing: Record<string, string> = { ...(out['missing'] as Record<string, string> | undefined) };
  for (const { n } of bySize) {
    delete out[n];
    missing[n] = `left out: the sample would exceed the collector's ${maxFrameBytes}-byte frame limit`;
    out['missing'] = missing;
    bytes = frameBytes(out);
    if (bytes + SEQ_ROOM_BYTES <= maxFrameBytes) break;
  }
  return { body: out, frameBytes: bytes };
}
