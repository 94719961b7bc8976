import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CONTROL_LIMIT_FACTOR, EARLY_FLUSH_BYTES, Flusher, Outbox, frameText } from '../../../server/core/outbox.ts';
import { until } from '../../support/until.ts';

/**
 * A real TCP pair on 127.0.0.1: `socket` is the hub's side (the Outbox writes it), `reader` the
 * peer's, which records every byte it reads and can stop reading (pause) to congest the link.
 */
interface Pair {
  socket: net.Socket;
  reader: net.Socket;
  /** Everything the reader has read so far. */
  received(): Buffer;
  receivedBytes(): number;
  /** Resolves with all bytes once the writer has ended its side. */
  ended: Promise<Buffer>;
}

const opened: { server: net.Server; sockets: net.Socket[] }[] = [];

afterEach(async () => {
  for (const { server, sockets } of opened.splice(0)) {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function socketPair(): Promise<Pair> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const reader = net.connect(port, '127.0.0.1');
  const entry = { server, sockets: [reader] };
  opened.push(entry);
  await once(reader, 'connect');
  const [socket] = await accepted;
  entry.sockets.push(socket);
  const chunks: Buffer[] = [];
  let bytes = 0;
  reader.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    bytes += chunk.length;
  });
  const ended = once(reader, 'end').then(() => Buffer.concat(chunks));
  ended.catch(() => {});
  return { socket, reader, received: () => Buffer.concat(chunks), receivedBytes: () => bytes, ended };
}

/** A frame whose payload is `text` padded with `fill` to `size` bytes, recognisable in the byte stream. */
const frame = (text: string, size = text.length, fill = '.') => frameText(text.padEnd(size, fill));

/**
 * Stop the reader and write control frames through `outbox` until the kernel's buffers are full
 * and the socket itself holds more than `bytes`. Returns the frames written.
 */
function congest(pair: Pair, outbox: Outbox, flusher: Flusher, bytes: number): Buffer[] {
  pair.reader.pause();
  const filler: Buffer[] = [];
  for (let i = 0; pair.socket.writableLength <= bytes; i++) {
    if (i >= 2000) throw new Error(`socket never held more than ${bytes} bytes`);
    const f = frame(`filler-${i}:`, 256 * 1024, 'f');
    expect(outbox.pushControl(f)).toBe('queued');
    filler.push(f);
    flusher.flushNow();
  }
  return filler;
}

describe('frameText', () => {
  const header = (f: Buffer, n: number) => [...f.subarray(0, n)];

  it('#frameText gives an empty payload a 2-byte header', () => {
    const f = frameText('');
    expect(header(f, 2)).toEqual([0x81, 0]);
    expect(f.length).toBe(2);
  });

  it('#frameText puts a 125-byte length in the second byte', () => {
    const text = 'a'.repeat(125);
    const f = frameText(text);
    expect(header(f, 2)).toEqual([0x81, 125]);
    expect(f.length).toBe(127);
    expect(f.subarray(2).toString()).toBe(text);
  });

  it('#frameText uses the 16-bit extended length from 126 to 65535 bytes', () => {
    const f126 = frameText('b'.repeat(126));
    expect(header(f126, 4)).toEqual([0x81, 126, 0x00, 0x7e]);
    expect(f126.length).toBe(4 + 126);
    expect(f126.subarray(4).toString()).toBe('b'.repeat(126));

    const f65535 = frameText('c'.repeat(65_535));
    expect(header(f65535, 4)).toEqual([0x81, 126, 0xff, 0xff]);
    expect(f65535.length).toBe(4 + 65_535);
    expect(f65535.subarray(4).toString()).toBe('c'.repeat(65_535));
  });

  it('#frameText uses the 64-bit extended length from 65536 bytes', () => {
    const f = frameText('d'.repeat(65_536));
    expect(header(f, 10)).toEqual([0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    expect(f.length).toBe(10 + 65_536);
    expect(f.subarray(10).toString()).toBe('d'.repeat(65_536));
  });

  it('#frameText measures the payload in UTF-8 bytes, not characters', () => {
    const text = 'é'.repeat(63); // 63 characters, 126 bytes
    const f = frameText(text);
    expect(header(f, 4)).toEqual([0x81, 126, 0x00, 0x7e]);
    expect(f.subarray(4).toString('utf8')).toBe(text);
  });
});

describe('Outbox', () => {
  it('#push queues frames in order and writes them in one corked batch per flush', async () => {
    const pair = await socketPair();
    const flusher = new Flusher(0);
    const outbox = new Outbox(pair.socket, 1024 * 1024, flusher); // the batch stays under EARLY_FLUSH_BYTES
    const cork = vi.spyOn(pair.socket, 'cork');
    const uncork = vi.spyOn(pair.socket, 'uncork');
    const write = vi.spyOn(pair.socket, 'write');
    const frames = [frame('{"seq":1}'), frame('{"seq":2}', 300), frame('{"seq":3}', 40_000)];

    for (const [i, f] of frames.entries()) expect(outbox.push(f, `ticks.T${i}`, 'conflate')).toBe('queued');
    expect(write).not.toHaveBeenCalled();
    expect(outbox.depth).toBe(frames.reduce((n, f) => n + f.length, 0));

    await Promise.resolve();
    expect(cork).toHaveBeenCalledTimes(1);
    expect(uncork).toHaveBeenCalledTimes(1);
    expect(write).toHaveBeenCalledTimes(3);
    expect(write.mock.calls.map((c) => c[0])).toEqual(frames);
    expect(outbox.stats).toEqual({ conflated: 0, framesOut: 3, bytesOut: frames.reduce((n, f) => n + f.length, 0) });

    const expected = Buffer.concat(frames);
    await until('the reader to receive the batch', () => pair.receivedBytes() >= expected.length, 2000);
    expect(pair.received().equals(expected)).toBe(true);
  });

  it('#push writes a single queued frame without corking', async () => {
    const pair = await socketPair();
    const flusher = new Flusher(0);
    const outbox = new Outbox(pair.socket, 64 * 1024, flusher);
    const cork = vi.spyOn(pair.socket, 'cork');
    const f = frame('{"only":true}');
    expect(outbox.push(f, 'ticks.A', 'disconnect')).toBe('queued');
    await Promise.resolve();
    expect(cork).not.toHaveBeenCalled();
    await until('the reader to receive the frame', () => pair.receivedBytes() >= f.length, 2000);
    expect(pair.received().equals(f)).toBe(true);
  });

  it('#push under congestion keeps the latest frame per topic and writes the held frames on drain in first-seen order', async () => {
    const pair = await socketPair();
    const flusher = new Flusher(0);
    const limit = 64 * 1024;
    const outbox = new Outbox(pair.socket, limit, flusher);
    const filler = congest(pair, outbox, flusher, limit);

    const a1 = frame('a1', 100);
    const b1 = frame('b1', 200);
    const a2 = frame('a2', 300);
    const c1 = frame('c1', 400);
    const a3 = frame('a3', 500);
    const b2 = frame('b2', 600);
    const pushes: [Buffer, string][] = [[a1, 'ticks.A'], [b1, 'ticks.B'], [a2, 'ticks.A'], [c1, 'ticks.C'], [a3, 'ticks.A'], [b2, 'ticks.B']];
    for (const [f, topic] of pushes) expect(outbox.push(f, topic, 'conflate')).toBe('conflated');
    expect(outbox.stats.conflated).toBe(3); // a2 over a1, a3 over a2, b2 over b1
    expect(outbox.depth).toBe(pair.socket.writableLength + a3.length + b2.length + c1.length);

    await Promise.resolve();
    const written = outbox.stats.framesOut;
    expect(written).toBe(filler.length); // nothing held was written while congested

    pair.reader.resume();
    const expected = Buffer.concat([...filler, a3, b2, c1]);
    await until('the held frames to arrive after the drain', () => pair.receivedBytes() >= expected.length, 3000);
    expect(pair.receivedBytes()).toBe(expected.length);
    expect(pair.received().equals(expected)).toBe(true);
    expect(outbox.stats.framesOut).toBe(filler.length + 3);
    expect(outbox.depth).toBe(0);

    // Drained: frames queue again.
    const d = frame('d1', 50);
    expect(outbox.push(d, 'ticks.D', 'conflate')).toBe('queued');
    await until('a frame queued after the drain to arrive', () => pair.receivedBytes() >= expected.length + d.length, 2000);
    expect(pair.received().subarray(expected.length).equals(d)).toBe(true);
  });

  it('#push with the disconnect policy reports overflow under congestion and writes nothing of it', async () => {
    const pair = await socketPair();
    const flusher = new Flusher(0);
    const limit = 64 * 1024;
    const outbox = new Outbox(pair.socket, limit, flusher);
    const before = frame('chat-before', 100);
    expect(outbox.push(before, 'chat', 'disconnect')).toBe('queued');
    flusher.flushNow();
    const filler = congest(pair, outbox, flusher, limit);

    const dropped = frame('chat-dropped', 100);
    expect(outbox.push(dropped, 'chat', 'disconnect')).toBe('overflow');
    expect(outbox.depth).toBe(pair.socket.writableLength); // nothing queued or held for it

    pair.reader.resume();
    const expected = Buffer.concat([before, ...filler]);
    await until('the reader to catch up', () => pair.receivedBytes() >= expected.length && pair.socket.writableLength === 0, 3000);
    pair.socket.end();
    const all = await pair.ended;
    expect(all.equals(expected)).toBe(true);
  });

  it('#push writes a batch at once when it reaches a quarter of the limit (at most EARLY_FLUSH_BYTES), not at the flush window', async () => {
    const pair = await socketPair();
    const flusher = new Flusher(60_000); // a window that never ends within the test
    const limit = 16 * 1024;
    const outbox = new Outbox(pair.socket, limit, flusher);
    const small = frame('s', 100);
    expect(outbox.push(small, 'ticks.S', 'conflate')).toBe('queued');
    expect(outbox.stats.framesOut).toBe(0); // waits for the window
    const frames = Array.from({ length: 6 }, (_, i) => frame(`m${i}`, 2048 - 4));
    const actions = frames.map((f, i) => outbox.push(f, `ticks.T${i}`, 'conflate'));
    expect(actions).toEqual(Array(6).fill('queued')); // never congested: the batch went out at 4 KiB
    expect(outbox.stats.framesOut).toBe(7); // 4 KiB reached three times: small + 2 frames, 2, 2
    const expected = Buffer.concat([small, ...frames]);
    await until('the early batches to arrive', () => pair.receivedBytes() >= expected.length, 2000);
    expect(pair.received().equals(expected)).toBe(true);

    const big = new Outbox((await socketPair()).socket, 1024 * 1024 * 1024, flusher);
    big.push(frame('b', EARLY_FLUSH_BYTES - 50), 'ticks.B', 'conflate');
    expect(big.stats.framesOut).toBe(0);
    big.push(frame('b2', 100), 'ticks.B', 'conflate');
    expect(big.stats.framesOut).toBe(2); // a large limit still flushes at EARLY_FLUSH_BYTES
    flusher.flushNow();
  });

  it('#pushControl queues replies past the limit until the socket holds more than CONTROL_LIMIT_FACTOR x limit', async () => {
    const pair = await socketPair();
    const flusher = new Flusher(0);
    const limit = 16 * 1024;
    const outbox = new Outbox(pair.socket, limit, flusher);
    pair.reader.pause();

    const queued: Buffer[] = [];
    let queuedPastLimit = 0;
    let overflowAt = -1;
    for (let i = 0; i < 2000; i++) {
      const held = pair.socket.writableLength;
      const f = frame(`reply-${i}:`, 64 * 1024, 'r');
      const action = outbox.pushControl(f);
      if (held > CONTROL_LIMIT_FACTOR * limit) {
        expect(action).toBe('overflow');
        overflowAt = held;
        break;
      }
      expect(action).toBe('queued');
      queued.push(f);
      if (held > limit) queuedPastLimit++;
      flusher.flushNow();
    }
    expect(overflowAt).toBeGreaterThan(CONTROL_LIMIT_FACTOR * limit);
    expect(queuedPastLimit).toBeGreaterThan(0);
    // A conflatable message would not have been queued at that depth.
    expect(outbox.push(frame('tick', 10), 'ticks.A', 'conflate')).toBe('conflated');

    pair.reader.resume();
    const tick = frame('tick', 10);
    const expected = Buffer.concat([...queued, tick]);
    await until('the queued replies (and the held tick) to arrive', () => pair.receivedBytes() >= expected.length, 3000);
    expect(pair.received().equals(expected)).toBe(true);
  });

  it('#seal flushes what is queued, then accepts nothing', async () => {
    const pair = await socketPair();
    const flusher = new Flusher(0);
    const outbox = new Outbox(pair.socket, 64 * 1024, flusher);
    const frames = [frame('last-1'), frame('last-2'), frame('close-frame')];
    outbox.push(frames[0], 'ticks.A', 'conflate');
    outbox.push(frames[1], 'chat', 'disconnect');
    outbox.pushControl(frames[2]);
    outbox.seal();
    expect(outbox.stats.framesOut).toBe(3); // written at once, not on the next flush

    outbox.push(frame('after-1'), 'ticks.A', 'conflate');
    outbox.pushControl(frame('after-2'));
    expect(outbox.depth).toBe(pair.socket.writableLength);
    await Promise.resolve();
    flusher.flushNow();
    expect(outbox.stats.framesOut).toBe(3);

    await until('the sealed frames to arrive', () => pair.receivedBytes() >= Buffer.concat(frames).length, 2000);
    pair.socket.end();
    expect((await pair.ended).equals(Buffer.concat(frames))).toBe(true);
  });

  it('#seal drops held frames: nothing follows on drain', async () => {
    const pair = await socketPair();
    const flusher = new Flusher(0);
    const limit = 64 * 1024;
    const outbox = new Outbox(pair.socket, limit, flusher);
    const filler = congest(pair, outbox, flusher, limit);
    expect(outbox.push(frame('held'), 'ticks.A', 'conflate')).toBe('conflated');
    outbox.seal();
    expect(outbox.depth).toBe(pair.socket.writableLength);

    const drained = once(pair.socket, 'drain');
    pair.reader.resume();
    await drained;
    await Promise.resolve();
    flusher.flushNow();
    pair.socket.end();
    expect((await pair.ended).equals(Buffer.concat(filler))).toBe(true);
    expect(outbox.stats.framesOut).toBe(filler.length);
  });

  it('#depth counts queued, socket and held bytes', async () => {
    const pair = await socketPair();
    const flusher = new Flusher(0);
    const limit = 64 * 1024;
    const outbox = new Outbox(pair.socket, limit, flusher);
    expect(outbox.depth).toBe(0);
    const q1 = frame('q1', 1000);
    const q2 = frame('q2', 2000);
    outbox.push(q1, 'ticks.A', 'conflate');
    outbox.push(q2, 'ticks.B', 'conflate');
    expect(outbox.depth).toBe(q1.length + q2.length);
    flusher.flushNow();

    congest(pair, outbox, flusher, limit);
    const inSocket = pair.socket.writableLength;
    expect(outbox.depth).toBe(inSocket);
    const h1 = frame('h1', 700);
    const h2 = frame('h2', 900);
    const h1b = frame('h1b', 800);
    outbox.push(h1, 'ticks.A', 'conflate');
    outbox.push(h2, 'ticks.B', 'conflate');
    outbox.push(h1b, 'ticks.A', 'conflate'); // replaces h1
    const reply = frame('reply', 300);
    outbox.pushControl(reply);
    expect(pair.socket.writableLength).toBe(inSocket);
    expect(outbox.depth).toBe(reply.length + inSocket + h1b.length + h2.length);

    pair.reader.resume();
    await until('everything to be written', () => outbox.depth === 0, 3000);
    expect(pair.socket.writableLength).toBe(0);
  });

  it('#flush drops what is queued once the socket is gone', async () => {
    const pair = await socketPair();
    const flusher = new Flusher(0);
    const outbox = new Outbox(pair.socket, 64 * 1024, flusher);
    outbox.push(frame('lost'), 'ticks.A', 'conflate');
    pair.socket.destroy();
    await Promise.resolve();
    expect(outbox.stats.framesOut).toBe(0);
    expect(outbox.depth).toBe(0);
  });
});

describe('Outbox release without a drain', () => {
  it('#push writes a frame larger than the limit to a reading peer (no drain is ever due)', async () => {
    const pair = await socketPair();
    const flusher = new Flusher(0);
    const outbox = new Outbox(pair.socket, 16 * 1024, flusher);
    const big = frame('big-tick', 20_000);
    const small = frame('small-tick', 100);
    outbox.push(big, 'ticks.A', 'conflate');
    outbox.push(small, 'ticks.B', 'conflate');
    await until('the frames to reach a reading peer', () => pair.receivedBytes() >= big.length + small.length, 2000);
  });

  it('#push is not held back by bytes the socket wrote out without a drain (stale snapshot)', async () => {
    const pair = await socketPair();
    const flusher = new Flusher(0);
    const limit = 16 * 1024;
    const outbox = new Outbox(pair.socket, limit, flusher);
    let drains = 0;
    pair.socket.on('drain', () => drains++);
    pair.reader.pause();
    const replies: Buffer[] = [];
    while (pair.socket.writableLength <= 8 * 1024) {
      // 4 KiB writes, each under the high-water mark, so no drain becomes due
      if (replies.length >= 5000) throw new Error('the kernel never filled');
      const r = frame(`reply-${replies.length}:`, 4096 - 4, 'r');
      outbox.pushControl(r);
      replies.push(r);
      flusher.flushNow();
    }
    pair.reader.resume();
    const total = Buffer.concat(replies).length;
    await until('the reader to take every reply', () => pair.receivedBytes() >= total && pair.socket.writableLength === 0, 3000);
    expect(drains).toBe(0);
    const tick = frame('tick', 8 * 1024); // half the limit, into an empty socket
    outbox.push(tick, 'ticks.A', 'conflate');
    await until('the tick to reach a reading peer', () => pair.receivedBytes() >= total + tick.length, 2000);
  });
});

describe('Flusher', () => {
  it('#schedule with windowMs 0 flushes in a microtask right after the handler', async () => {
    const one = await socketPair();
    const two = await socketPair();
    const flusher = new Flusher(0);
    const a = new Outbox(one.socket, 64 * 1024, flusher);
    const b = new Outbox(two.socket, 64 * 1024, flusher);
    const fa = [frame('a1'), frame('a2')];
    const fb = frame('b1');

    const seen: string[] = [];
    a.push(fa[0], 'ticks.A', 'conflate');
    b.push(fb, 'ticks.B', 'conflate');
    a.push(fa[1], 'ticks.A', 'conflate');
    expect(a.stats.framesOut + b.stats.framesOut).toBe(0); // nothing until the handler returns
    queueMicrotask(() => seen.push(`microtask ${a.stats.framesOut}+${b.stats.framesOut}`));
    setImmediate(() => seen.push('immediate'));
    await until('the immediate to run', () => seen.includes('immediate'), 1000);
    expect(seen).toEqual(['microtask 2+1', 'immediate']);

    await until('both readers to receive their frames', () => one.receivedBytes() >= Buffer.concat(fa).length && two.receivedBytes() >= fb.length, 2000);
    expect(one.received().equals(Buffer.concat(fa))).toBe(true);
    expect(two.received().equals(fb)).toBe(true);
  });

  it('#schedule with a window flushes once the window has passed', async () => {
    const pair = await socketPair();
    const windowMs = 40;
    const flusher = new Flusher(windowMs);
    const outbox = new Outbox(pair.socket, 64 * 1024, flusher);
    const start = performance.now();
    outbox.push(frame('w1'), 'ticks.A', 'conflate');
    await new Promise<void>((r) => setImmediate(r));
    outbox.push(frame('w2'), 'ticks.B', 'conflate'); // joins the same window
    expect(outbox.stats.framesOut).toBe(0);

    await until('the window to flush', () => outbox.stats.framesOut > 0, 2000, 2);
    expect(performance.now() - start).toBeGreaterThanOrEqual(windowMs - 2);
    expect(outbox.stats.framesOut).toBe(2);
    const expected = Buffer.concat([frame('w1'), frame('w2')]);
    await until('the reader to receive the window', () => pair.receivedBytes() >= expected.length, 2000);
    expect(pair.received().equals(expected)).toBe(true);
  });

  it('#schedule holds writes for busyWindowMs only while busy() says so', async () => {
    const pair = await socketPair();
    let busy = false;
    const flusher = new Flusher(0, 40, () => busy);
    const outbox = new Outbox(pair.socket, 64 * 1024, flusher);
    outbox.push(frame('idle'), 'ticks.A', 'conflate');
    await Promise.resolve();
    expect(outbox.stats.framesOut).toBe(1); // idle: right after the handler

    busy = true;
    const start = performance.now();
    outbox.push(frame('b1'), 'ticks.A', 'conflate');
    await new Promise<void>((r) => setImmediate(r));
    outbox.push(frame('b2'), 'ticks.B', 'conflate'); // a later read joins the same write
    expect(outbox.stats.framesOut).toBe(1);
    await until('the busy window to flush', () => outbox.stats.framesOut > 1, 2000, 2);
    expect(performance.now() - start).toBeGreaterThanOrEqual(38);
    expect(outbox.stats.framesOut).toBe(3);
    const expected = Buffer.concat([frame('idle'), frame('b1'), frame('b2')]);
    await until('the reader to receive all three', () => pair.receivedBytes() >= expected.length, 2000);
    expect(pair.received().equals(expected)).toBe(true);
  });

  it('#flushNow flushes what is pending at once', async () => {
    const pair = await socketPair();
    const flusher = new Flusher(60_000);
    const outbox = new Outbox(pair.socket, 64 * 1024, flusher);
    const f = frame('now');
    outbox.push(f, 'ticks.A', 'conflate');
    expect(outbox.stats.framesOut).toBe(0);
    flusher.flushNow();
    expect(outbox.stats.framesOut).toBe(1);
    await until('the reader to receive the frame', () => pair.receivedBytes() >= f.length, 2000);
    expect(pair.received().equals(f)).toBe(true);
    flusher.flushNow(); // nothing pending: a no-op
    expect(outbox.stats.framesOut).toBe(1);
  });

  it('#constructor rejects an invalid windowMs with a RangeError naming it', () => {
    for (const bad of [-1, Number.NaN, -0.5]) {
      expect(() => new Flusher(bad)).toThrow(RangeError);
      expect(() => new Flusher(bad)).toThrow(/windowMs/);
    }
    expect(() => new Flusher(0)).not.toThrow();
    expect(() => new Flusher()).not.toThrow();
  });
});
