/**
 * COMPRESSION=shared end to end with real `ws` clients and raw sockets: permessage-deflate is
 * negotiated with server_no_context_takeover, each large message goes out as ONE compressed frame
 * (the same bytes for every connection that negotiated it, each inflatable on its own), small ones
 * and every frame to clients without the extension stay plain, and live, conflated, maxHz and
 * replayed (history, snapshot) messages all decode to exactly what was published.
 */
import { randomBytes } from 'node:crypto';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubMessage } from '../../../protocol/wire.ts';
import { testConfig } from '../../../server/config.ts';
import { RECENT_FRAMES_BYTES, SharedDeflate } from '../../../server/core/compression.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { openRawSocket, type RawFrame, type RawSocket } from '../../support/raw-socket.ts';
import { until } from '../../support/until.ts';
import { openSocket, openTap, type TestSocket } from '../../support/ws-client.ts';

const KEY = 'compression-test-key';
const ADMIN = 'compression-test-admin';
const MIN_BYTES = 256;
const OFFER = 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits';
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

let hub: RunningHub;
const closers: Array<() => void> = [];

beforeAll(async () => {
  // No heartbeat pings among the frames counted.
  hub = await startHub(testConfig({
    publishKey: KEY,
    apiKeys: [{ key: ADMIN, role: 'admin', publish: [], name: 'admin' }],
    compression: 'shared',
    compressionMinBytes: MIN_BYTES,
    outboxLimitBytes: 64 * 1024,
    heartbeatMs: 3_600_000,
  }));
});
afterAll(async () => {
  for (const close of closers) close();
  await hub?.close();
});

/** A `data` object whose message JSON is at least `bytes` long, compressible like real book levels. */
const payload = (n: number, bytes: number) => ({ n, levels: Array.from({ length: Math.ceil(bytes / 16) }, (_, i) => [`${(100 + i / 100).toFixed(2)}`, (i * 7) % 13]) });

/** What a compliant receiver does (RFC 7692 7.2.2): append 00 00 ff ff and inflate; a fresh inflater per message. */
const inflate = (payload: Buffer): string => inflateRawSync(Buffer.concat([payload, TRAILER]), { finishFlush: constants.Z_SYNC_FLUSH }).toString();
/** The payload of a server frame (no mask) of up to 64 KB. */
const payloadOf = (frame: Buffer): Buffer => frame.subarray(frame[1] === 126 ? 4 : 2);
const textOf = (frame: RawFrame): string => (frame.rsv1 ? inflate(frame.payload) : frame.payload.toString());

async function tap(path: string, options: WebSocket.ClientOptions = {}) {
  const t = await openTap(`${hub.wsUrl}/${path}`, options);
  closers.push(() => t.ws.terminate());
  return t;
}

async function raw(path: string, offer = true): Promise<RawSocket> {
  const r = await openRawSocket(`${hub.wsUrl}/${path}`, undefined, undefined, offer ? [OFFER] : []);
  closers.push(() => r.socket.destroy());
  return r;
}

/** The negotiated Sec-WebSocket-Extensions of a `ws` client connection. */
function negotiated(url: string, options: WebSocket.ClientOptions = {}): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.on('upgrade', (res) => resolve(res.headers['sec-websocket-extensions'] as string | undefined));
    ws.on('open', () => ws.close());
    ws.on('error', reject);
  });
}

const messagesOf = (frames: string[]) => frames.map((f) => JSON.parse(f) as HubMessage).filter((m) => !('op' in m));

describe('SharedDeflate', () => {
  it('#frame leaves text under minBytes to the plain frame and compresses the rest to one RSV1 frame that inflates alone', () => {
    const deflate = new SharedDeflate(100);
    expect(deflate.frame('x'.repeat(99))).toBeNull();
    const text = JSON.stringify(payload(1, 2000));
    const frame = deflate.frame(text)!;
    expect(frame[0]).toBe(0xc1); // FIN + RSV1 + text
    const length = frame[1] === 126 ? frame.readUInt16BE(2) : frame[1];
    const body = payloadOf(frame);
    expect(body.length).toBe(length);
    expect(length).toBeLessThan(text.length / 2);
    expect(body.subarray(-4).equals(TRAILER)).toBe(false); // RFC 7692 7.2.1: trailer removed
    expect(inflate(body)).toBe(text);
    expect(deflate.frame(text)!.equals(frame)).toBe(true); // no context: same bytes every time
  });

  it('#message deflates a message once while it is recent, tells a restarted topic apart, and forgets the oldest past RECENT_FRAMES_BYTES', () => {
    const deflate = new SharedDeflate(100);
    const env = (seq: number, data: unknown) => ({ topic: 'm.a', seq, ts: 1, pos: seq, json: JSON.stringify({ topic: 'm.a', seq, ts: 1, data }) });
    const first = env(1, payload(1, 500));
    const frame = deflate.message(first)!;
    expect(deflate.message({ ...first })).toBe(frame); // a replayed copy (e.g. from Redis) hits too
    const restarted = env(1, payload(2, 500)); // same topic and seq, other message
    expect(inflate(payloadOf(deflate.message(restarted)!))).toBe(restarted.json);
    const old = env(2, payload(3, 500));
    const oldFrame = deflate.message(old)!;
    const big = randomBytes(750_000).toString('base64'); // ~1 MB of JSON, ~0.75 MB compressed
    for (let seq = 3; seq < 3 + Math.ceil(RECENT_FRAMES_BYTES / 1_750_000) + 1; seq++) deflate.message(env(seq, big));
    const again = deflate.message(old)!;
    expect(again).not.toBe(oldFrame);
    expect(again.equals(oldFrame)).toBe(true);
  });

  it('counts UTF-8 bytes against minBytes', () => {
    expect(new SharedDeflate(10).frame('ééééé')).not.toBeNull(); // 5 characters, 10 bytes
    expect(() => new SharedDeflate(-1)).toThrow(/minBytes/);
  });
});

describe('COMPRESSION=shared', () => {
  it('negotiates permessage-deflate with server_no_context_takeover, honours a narrower server window, and nothing without an offer', async () => {
    const accepted = await negotiated(`${hub.wsUrl}/neg.a`);
    expect(accepted).toMatch(/^permessage-deflate/);
    expect(accepted).toContain('server_no_context_takeover');
    expect(await negotiated(`${hub.wsUrl}/neg.a`, { perMessageDeflate: { serverMaxWindowBits: 10 } })).toContain('server_max_window_bits=10');
    expect(await negotiated(`${hub.wsUrl}/neg.a`, { perMessageDeflate: { clientNoContextTakeover: true, clientMaxWindowBits: 9 } })).toMatch(
      /client_no_context_takeover.*client_max_window_bits=9|client_max_window_bits=9.*client_no_context_takeover/,
    );
    expect(await negotiated(`${hub.wsUrl}/neg.a`, { perMessageDeflate: false })).toBeUndefined();
  });

  it('sends a large message as one compressed frame shared by every deflate connection, small ones plain, and only plain frames without the extension', async () => {
    const [a, b, plain] = await Promise.all([raw('share.>'), raw('share.>'), raw('share.>', false)]);
    await until('three welcomes', () => a.frames.length && b.frames.length && plain.frames.length);
    const big = await hub.hub.publish('share.big', payload(1, 3000));
    const small = await hub.hub.publish('share.small', { n: 2 });
    await until('both messages everywhere', () => [a, b, plain].every((r) => r.frames.length === 3));
    const [, bigA, smallA] = a.frames;
    const [, bigB] = b.frames;
    expect(bigA.rsv1).toBe(true);
    expect(bigA.payload.equals(bigB.payload)).toBe(true);
    expect(bigA.payload.length).toBeLessThan(big.json.length / 2);
    expect(textOf(bigA)).toBe(big.json);
    expect(smallA.rsv1).toBe(false);
    expect(textOf(smallA)).toBe(small.json);
    expect(plain.frames.every((f) => !f.rsv1)).toBe(true);
    expect(plain.frames.slice(1).map(textOf)).toEqual([big.json, small.json]);
    // Operators see who negotiated it, and the bytes actually written.
    const res = await fetch(`${hub.httpUrl}/api/connections`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const listed = ((await res.json()) as { connections: Array<{ subscriptions: string[]; compressed: boolean; bytesOut: number }> }).connections.filter((c) => c.subscriptions.includes('share.>'));
    expect(listed.map((c) => c.compressed).sort()).toEqual([false, true, true]);
    const [plainBytes, ...deflateBytes] = listed.sort((x, y) => Number(x.compressed) - Number(y.compressed)).map((c) => c.bytesOut);
    for (const bytes of deflateBytes) expect(bytes).toBeLessThan(plainBytes / 2);
  });

  it('ws clients with deflate decode every message of many topics, small and large; a client that refuses the extension gets the same', async () => {
    const deflating = await tap('many.>');
    const refusing = await tap('many.>', { perMessageDeflate: false });
    const narrow = await tap('many.>', { perMessageDeflate: { serverMaxWindowBits: 9 } });
    const published: string[] = [];
    for (let i = 0; i < 300; i++) {
      const env = await hub.hub.publish(`many.t${i % 30}`, i % 3 === 0 ? payload(i, 100 + i * 20) : { i });
      published.push(env.json);
    }
    for (const t of [deflating, refusing, narrow]) {
      await until('300 messages', () => t.frames.length >= 300);
      expect(t.frames).toEqual(published);
    }
  });

  it('conflates compressed frames for congested readers: a ws client and a raw reader inflate what arrives, and the latest of each topic wins', async () => {
    const reader = await raw('ticks.cz.>');
    const client = await tap('ticks.cz.>');
    await until('welcome', () => reader.frames.length === 1);
    reader.pause();
    client.ws.pause(); // stops reading its socket, as a slow browser would
    const latest = new Map<string, string>();
    // Random base64 barely compresses (~6 KB a frame), so 1000 of them overflow the 64 KB outbox and the socket buffers.
    for (let i = 0; i < 1000; i++) {
      const env = await hub.hub.publish(`ticks.cz.s${i % 4}`, { n: i, noise: randomBytes(6000).toString('base64') });
      latest.set(env.topic, env.json);
    }
    reader.resume();
    client.ws.resume();
    const readerTexts = () => reader.frames.slice(1).filter((f) => f.opcode === 1).map(textOf);
    const hasLatest = (texts: string[]) => [...latest.values()].every((json) => texts.includes(json));
    await until('the latest of each topic at both', () => hasLatest(client.frames) && hasLatest(readerTexts()), 10_000, 100);
    for (const texts of [readerTexts(), client.frames]) {
      const messages = texts.map((t) => JSON.parse(t) as HubMessage);
      expect(messages.length).toBeLessThan(1000); // some were conflated away
      const seqs = new Map<string, number>();
      for (const m of messages) {
        expect(m.seq).toBeGreaterThan(seqs.get(m.topic) ?? 0); // in order per topic, no duplicates
        seqs.set(m.topic, m.seq);
      }
    }
    expect(reader.frames.slice(1).filter((f) => f.opcode === 1).every((f) => f.rsv1)).toBe(true);
  });

  it('compresses replays: a snapshot, a resume from a seq, a history reply and maxHz releases all decode exactly', async () => {
    const published: string[] = [];
    for (let i = 0; i < 20; i++) published.push((await hub.hub.publish('hist.book', payload(i, 1500))).json);
    const snap = await tap('hist.book?snapshot=5');
    await until('the snapshot', () => snap.frames.length >= 5);
    expect(snap.frames).toEqual(published.slice(-5));

    const rawSnap = await raw('hist.book?snapshot=3');
    await until('welcome and snapshot', () => rawSnap.frames.length >= 4);
    expect(rawSnap.frames.slice(1).every((f) => f.rsv1)).toBe(true);
    expect(rawSnap.frames.slice(1).map(textOf)).toEqual(published.slice(-3));

    const app: TestSocket = await openSocket(`${hub.wsUrl}?token=${KEY}`, 'hub.v1');
    closers.push(() => app.ws.terminate());
    const seq = (JSON.parse(published[9]) as HubMessage).seq;
    app.send({ op: 'sub', id: 1, topic: 'hist.book', since: seq });
    await until('the resumed messages', () => messagesOf(app.frames).length >= 10);
    expect(messagesOf(app.frames).map((m) => JSON.stringify(m))).toEqual(published.slice(10));
    app.send({ op: 'history', id: 2, topic: 'hist.book', limit: 20 });
    const page = await app.nextJson<{ messages: HubMessage[] }>((f) => f.id === 2);
    expect(page.messages.map((m) => JSON.stringify(m))).toEqual(published);

    const throttled = await tap('hist.hz?maxHz=2');
    const last: string[] = [];
    for (let i = 0; i < 10; i++) last.push((await hub.hub.publish('hist.hz', payload(i, 1000))).json);
    await until('the latest one released', () => throttled.frames.at(-1) === last.at(-1), 3000);
    expect(throttled.frames.length).toBeLessThan(10);
    for (const f of throttled.frames) expect(last).toContain(f);
  });
});

describe('line mode (wscat) under COMPRESSION=shared', () => {
  it('a deflate client reads its (compressed) replies and /sub messages intact', async () => {
    const line = await openSocket(hub.wsUrl);
    closers.push(() => line.ws.terminate());
    await line.next((f) => f.startsWith('* welcome'));
    line.send('/help');
    expect(await line.next((f) => f.startsWith('* commands:'))).toContain('/sub PATTERN');
    line.send('/sub lm.*');
    await line.next((f) => f.includes('lm.*'));
    const env = await hub.hub.publish('lm.book', payload(1, 2000));
    expect(await line.next((f) => f.startsWith('{'))).toBe(env.json);
  });
});

describe('compressed input', () => {
  it('inflates what a client sends compressed, and closes 1009 when it would inflate past MAX_PAYLOAD', async () => {
    const app = await openSocket(`${hub.wsUrl}?token=${KEY}`, 'hub.v1', { perMessageDeflate: { threshold: 0 } });
    closers.push(() => app.ws.terminate());
    app.send({ op: 'ping', id: 7 });
    expect((await app.nextJson((f) => f.id === 7)).op).toBe('ok');

    const bomb = await raw('bomb.a');
    const deflated = deflateRawSync(Buffer.alloc(10 * 1024 * 1024, 0x20)); // 10 MB of spaces in ~10 KB
    bomb.sendFrame(0x40 | 0x1, deflated); // RSV1 + text
    await bomb.ended;
    const close = bomb.frames.find((f) => f.opcode === 0x8);
    expect(close?.payload.readUInt16BE(0)).toBe(1009);
  });
});

describe('COMPRESSION=off', () => {
  it('declines the extension, so every frame is plain', async () => {
    const off = await startHub(testConfig({ compression: 'off' }));
    try {
      expect(await negotiated(`${off.wsUrl}/off.a`)).toBeUndefined();
      const r = await openRawSocket(`${off.wsUrl}/off.a`, undefined, undefined, [OFFER]);
      await until('welcome', () => r.frames.length === 1);
      const env = await off.hub.publish('off.a', payload(1, 3000));
      await until('the message', () => r.frames.length === 2);
      expect(r.frames[1].rsv1).toBe(false);
      expect(textOf(r.frames[1])).toBe(env.json);
      r.socket.destroy();
    } finally {
      await off.close();
    }
  });
});
