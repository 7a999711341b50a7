/**
 * Connections read into one reused buffer (collector/static_reads.ts), over real loopback TCP:
 * bytes arrive in order through the sink, the buffer is the same one every read, writes and the
 * close still work, the fallback reads through 'data'; and in a running collector, a frame that
 * spans reads survives other connections' reads overwriting the buffer in between.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startCollector } from '../../collector/app.ts';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import { adoptAccepted, type Adopted, STATIC_READ_BYTES } from '../../collector/static_reads.ts';
import { loadConfig } from '../../shared/config.ts';
import { encodeFrame } from '../../shared/frame_codec.ts';
import { hostView } from '../../shared/host_view.ts';
import { createLogger } from '../../shared/log.ts';
import { PROTO_VERSION } from '../../shared/protocol.ts';
import { STR } from '../../shared/shm_layout.ts';
import { RawClient, waitFor } from '../helpers/net.ts';

/** A paused-on-connect server whose accepted sockets go through adoptAccepted(enabled). */
async function pausedServer(enabled: boolean): Promise<{ server: Server; port: number; adopted: Promise<Adopted> }> {
  let resolveAdopted!: (a: Adopted) => void;
  const adopted = new Promise<Adopted>((r) => { resolveAdopted = r; });
  const server = createServer({ pauseOnConnect: true }, (accepted) => resolveAdopted(adoptAccepted(accepted, enabled)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, adopted };
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

test('adopted: each read reaches the sink in order, in the one reused buffer; writes and the close work', async () => {
  const { server, port, adopted } = await pausedServer(true);
  const client = await dial(port);
  const a = await adopted;
  assert.equal(a.staticReads, true, 'this Node exposes the accepted handle: the static path is taken');
  const got: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  a.setSink((chunk) => {
    buffers.add(chunk.buffer);
    got.push(Buffer.from(chunk)); // valid only during the call: copied
  });
  const parts = ['first part,', 'second part,', 'third'];
  for (const [i, p] of parts.entries()) {
    client.write(p);
    await waitFor(`read ${i + 1}`, () => Buffer.concat(got).toString() === parts.slice(0, i + 1).join(''));
  }
  assert.ok(got.length >= 3, 'three writes, waited for one by one, are three reads at least');
  assert.equal(buffers.size, 1, 'every read landed in the same buffer');
  assert.equal([...buffers][0]!.byteLength >= STATIC_READ_BYTES, true);
  // The server no longer counts the connection: the shell it made was destroyed.
  assert.equal(await new Promise<number>((r, j) => server.getConnections((e, n) => (e ? j(e) : r(n)))), 0);
  // Replies go out on the adopted socket.
  const reply = new Promise<string>((r) => client.once('data', (c) => r(c.toString())));
  a.socket.write('pong');
  assert.equal(await reply, 'pong');
  // The peer's end closes the adopted socket.
  const closed = new Promise<void>((r) => a.socket.once('close', () => r()));
  client.end();
  await closed;
  server.close();
});

test('adopted: reads before a sink is set are dropped, not queued', async () => {
  const { server, port, adopted } = await pausedServer(true);
  const client = await dial(port);
  const a = await adopted;
  client.write('early');
  // The handle counts what it read, sink or not: once it has the 5 bytes, they were dropped.
  await waitFor('the early bytes read', () => a.socket.bytesRead >= 5);
  const got: string[] = [];
  a.setSink((chunk) => got.push(chunk.toString()));
  client.write('late');
  await waitFor('the late bytes', () => got.join('').includes('late'));
  assert.equal(got.join(''), 'late');
  client.destroy();
  a.socket.destroy();
  server.close();
});

test('not enabled: the accepted socket is resumed and read through data events', async () => {
  const { server, port, adopted } = await pausedServer(false);
  const client = await dial(port);
  const a = await adopted;
  assert.equal(a.staticReads, false);
  const got: string[] = [];
  a.socket.on('data', (c: Buffer) => got.push(c.toString()));
  client.write('through data');
  await waitFor('the bytes', () => got.join('') === 'through data');
  a.setSink(() => assert.fail('the sink is not used on this path'));
  client.write('!');
  await waitFor('more bytes', () => got.join('') === 'through data!');
  client.destroy();
  a.socket.destroy();
  server.close();
});

for (const staticReads of [true, false]) {
  test(`collector (${staticReads ? 'static reads' : 'data events'}): a frame split across reads lands whole while other agents' reads come between`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-static-reads-'));
    const token = 'static-reads-token';
    const config = loadConfig(COLLECTOR_SETTINGS, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', token, '--capacity', '8'], {}).config;
    const c = await startCollector(config, createLogger('test', 'error'), { staticReads });
    try {
      const open = async (host: string): Promise<RawClient> => {
        const r = await RawClient.open(c.agentAddress.port);
        r.send({ type: 'hello', proto: PROTO_VERSION, host, agent: 'test', token, interval_ms: 1000 });
        await r.next('welcome');
        return r;
      };
      const slow = await open('split-host');
      const busy = await open('busy-host');
      const view = (name: string) => c.store.readAll().map((s) => hostView(s, Date.now())).find((h) => h.name === name);
      // A sample with long text, so its first half fills much of the buffer.
      const fs = Array.from({ length: 6 }, (_, i) => ({ mount: `/split/${'m'.repeat(60)}/${i}`, type: 'ext4', size_bytes: 1000 + i, used_bytes: 10 + i, free_bytes: 900 }));
      const frame = encodeFrame({ type: 'sample', seq: 1, ts: Date.now(), cpu_pct: 42.5, mem_total_bytes: 100, mem_used_bytes: 40, mem_available_bytes: 60, fs });
      const cut = Math.floor(frame.length / 2);
      slow.sendBytes(frame.subarray(0, cut));
      // Each of these lands only after a later turn of the event loop than the one that read the
      // first half: the buffer the half was read into is overwritten by these reads.
      for (let seq = 1; seq <= 3; seq++) {
        const busyFs = [{ mount: `/busy/${'b'.repeat(90)}`, type: 'xfs', size_bytes: 5000 + seq, used_bytes: 1, free_bytes: 2 }];
        busy.send({ type: 'sample', seq, ts: Date.now(), cpu_pct: seq, mem_total_bytes: 100, mem_used_bytes: 1, mem_available_bytes: 99, fs: busyFs });
        await waitFor(`busy sample ${seq}`, () => view('busy-host')?.sample_seq === seq);
      }
      assert.equal(view('split-host')?.sample_seq ?? null, null, 'half a frame stores nothing');
      slow.sendBytes(frame.subarray(cut));
      const h = await waitFor('the split sample', () => { const v = view('split-host'); return v?.sample_seq === 1 ? v : null; });
      assert.equal(h.cpu_pct, 42.5);
      const index = c.store.readAll().find((s) => s.strings[STR.HOST] === 'split-host')!.index;
      const detail = c.store.readSlot(index, true)!;
      assert.deepEqual(detail.tables!.fs.rows.map((r) => (r as { mount: string }).mount), fs.map((f) => f.mount));
      assert.equal(slow.closed, false);
      slow.close();
      busy.close();
    } finally {
      await c.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
