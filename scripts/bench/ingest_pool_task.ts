/**
 * The task of a pool worker (scripts/bench/ingest.ts): decodes and validates every frame of a
 * batch (length-prefixed bodies in one transferred buffer) with the collector's one-pass
 * decoder, and answers how many were samples. What a decode worker of the collector would do.
 */
import { parentPort } from 'node:worker_threads';
import { frameLength } from '../../shared/frame_codec.ts';
import { decodeSampleFast } from '../../shared/sample_decoder.ts';

parentPort!.on('message', (batch: Uint8Array) => {
  let ok = 0;
  let off = 0;
  while (off + 4 <= batch.length) {
    const len = frameLength(batch, off);
    if (decodeSampleFast(batch.subarray(off + 4, off + 4 + len)) !== null) ok++;
    off += 4 + len;
  }
  parentPort!.postMessage(ok);
});
