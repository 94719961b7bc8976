import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../server/config.ts';
import { startHub, type RunningHub } from '../../server/server.ts';
import { maskedFrame, openRawSocket, type RawSocket } from '../support/raw-socket.ts';
import { openSocket, sleep } from '../support/ws-client.ts';

const KEY = 'socket-fuzz-key';
let running: RunningHub;

beforeAll(async () => {
  running = await startHub(testConfig({ publishKey: KEY, maxPayload: 4096, heartbeatMs: 500 }));
});
afterAll(async () => {
  await running.close();
});

function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One hostile action on a raw socket: a malformed, fragmented, oversized, binary or control frame, or garbage. */
function attack(raw: RawSocket, random: () => number): void {
  const int = (n: number) => Math.floor(random() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const texts = ['{"op":"sub","id":1,"topic":"fz.>"}', '{"op":"pub","id":2,"topic":"chat","data":{"text":"x"}}', '/nick fuzz', '/sub >', '{', 'null', '{"op":"sub","id":3,"topic":"a..b"}', '{"op":"history","id":4,"topic":"fz.t","limit":99999}', '/who', '{"op":"pub","id":5,"topic":"fz.t","data":1}'];
  switch (int(10)) {
    case 0:
      return raw.sendFrame(0x1, Buffer.from(texts[int(texts.length)]));
    case 1: // fragmented text, sometimes never finished
      raw.sendFrame(0x1, Buffer.from('{"op":"pi'), false);
      if (random() < 0.7) raw.sendFrame(0x0, Buffer.from('ng","id":9}'));
      return;
    case 2: // oversized
      return raw.sendFrame(0x1, Buffer.alloc(4096 + 1 + int(10_000), 0x61));
    case 3: // binary
      return raw.sendFrame(0x2, bytes(int(200)));
    case 4: // control frames, some invalid (ping over 125 bytes, fragmented ping)
      return raw.sendFrame(0x9, bytes(random() < 0.5 ? int(125) : 126 + int(100)), random() < 0.8);
    case 5: // invalid UTF-8 text
      return raw.sendFrame(0x1, Buffer.from([0x7b, 0xff, 0xfe, 0xc0, 0x80]));
    case 6: // reserved opcode
      return raw.sendFrame(0x3 + int(5), bytes(int(20)));
    case 7: // unmasked frame (clients must mask)
      return void raw.socket.write(Buffer.concat([Buffer.from([0x81, 5]), Buffer.from('hello')]));
    case 8: // garbage bytes
      return void raw.socket.write(bytes(1 + int(64)));
    default: // close with a random code
      return raw.sendFrame(0x8, Buffer.concat([Buffer.from([int(256), int(256)]), bytes(int(10))]));
  }
}

describe('socket fuzzer', () => {
  it('hostile frames never crash the hub, leak a connection, or cost a good client a message', async () => {
    const good = await openSocket(`${running.wsUrl}/fz.t`);
    const publisher = await openSocket(`${running.wsUrl}?token=${KEY}`, 'hub.v1');
    await publisher.nextJson((f) => f.op === 'welcome');
    await sleep(20);
    const random = prng(20261125);
    const paths = ['', '/fz.t', '/fz.>,chat'];
    let published = 0;
    let attacks = 0;
    const publishing = (async () => {
      for (let i = 1; i <= 400; i++) {
        publisher.send({ op: 'pub', id: i, topic: 'fz.t', data: { i } });
        published = i;
        await sleep(2);
      }
    })();
    const attackers = Array.from({ length: 8 }, async (_, k) => {
      for (let round = 0; round < 12; round++) {
        let raw: RawSocket;
        try {
          raw = await openRawSocket(`${running.wsUrl}${paths[(k + round) % paths.length]}`, random() < 0.5 ? 'hub.v1' : undefined);
        } catch {
          continue;
        }
        const actions = 1 + Math.floor(random() * 6);
        for (let a = 0; a < actions && !raw.socket.destroyed; a++) {
          attack(raw, random);
          attacks++;
          await sleep(random() * 5);
        }
        if (random() < 0.5) raw.socket.destroy();
        else raw.socket.end();
      }
    });
    await Promise.all([publishing, ...attackers]);
    await good.next((f) => f.includes('"seq":400'), 10_000);
    expect(good.frames.map((f) => JSON.parse(f).seq)).toEqual(Array.from({ length: published }, (_, k) => k + 1));
    expect(attacks).toBeGreaterThan(100);
    // Every hostile connection is gone (closed by the hub, or reaped by the heartbeat): no leak.
    const deadline = Date.now() + 5_000;
    while (running.hub.connections.size > 2 && Date.now() < deadline) await sleep(50);
    expect(running.hub.connections.size).toBe(2);
    expect((await fetch(`${running.httpUrl}/healthz`)).status).toBe(200);
    good.close();
    publisher.close();
  });

  it('answers frames pipelined in the same packet as the upgrade request', async () => {
    const requests = ['{"op":"ping","id":"p1"}', '{"op":"ping","id":"p2"}'].map((t) => maskedFrame(0x1, Buffer.from(t)));
    const raw = await openRawSocket(running.wsUrl, 'hub.v1', Buffer.concat(requests));
    const deadline = Date.now() + 2000;
    const texts = () => raw.frames.filter((f) => f.opcode === 0x1); // not heartbeat pings
    while (texts().length < 3 && Date.now() < deadline) await sleep(10);
    const replies = texts().map((f) => JSON.parse(f.payload.toString()));
    expect(replies.map((r) => [r.op, r.id])).toEqual([['welcome', undefined], ['ok', 'p1'], ['ok', 'p2']]);
    raw.socket.destroy();
  });

  it('reaps a peer that stops answering pings (half-open socket)', async () => {
    while (running.hub.connections.size > 0) await sleep(10);
    const silent = await openRawSocket(`${running.wsUrl}/fz.quiet`); // never answers pings
    await sleep(20);
    expect(running.hub.connections.size).toBe(1);
    const started = Date.now();
    await silent.ended; // terminated after missing a heartbeat (HEARTBEAT_MS=500)
    expect(Date.now() - started).toBeLessThan(1600);
    await sleep(20);
    expect(running.hub.connections.size).toBe(0);
  });
});
