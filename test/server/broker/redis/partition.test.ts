/**
 * A network partition between a hub node and Redis: packets vanish, nothing is reset. Redis runs
 * in a network namespace of its own, reached over a veth pair on 10.213.7.0/29 (test/support/netns.ts); the partition is
 * the namespace's end of the pair going down (the node's route stays, its packets are dropped),
 * the heal is it coming up again. Needs root and `ip` (iproute2); fails loudly without them.
 *
 * Bounds asserted (docs/operations.md, "What each failure looks like"): a publisher gets
 * `unavailable` within the 2 s command timeout, /healthz answers 503 `degraded` within 3.5 s
 * (heartbeat 1 s + command timeout 2 s), the node is `ok` again within 5 s of the heal, and a
 * HubClient connected throughout ends with every message exactly once (or an explicit reset).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type WebSocketLike } from '../../../../client/hub-client.ts';
import { testConfig } from '../../../../server/config.ts';
import { startHub, type RunningHub } from '../../../../server/server.ts';
import { createVethNamespace, type VethNamespace } from '../../../support/netns.ts';
import { ping, redisServerPath } from '../../../support/redis-server.ts';
import { sleep, until } from '../../../support/until.ts';

const REDIS_PORT = 6379; // Redis's own namespace: nothing else listens there
let net_: VethNamespace | null = null;
const ns = () => net_!;

const partition = () => ns().nsIp('link', 'set', ns().nsIf, 'down');
const heal = () => ns().nsIp('link', 'set', ns().nsIf, 'up');
const attempt = (fn: () => unknown) => {
  try {
    fn();
  } catch {
    // already gone
  }
};

const pingRedis = () => ping(REDIS_PORT, ns().nsAddr);

/** Redis's count of connections accepted since it started (INFO stats). */
function connectionsReceived(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(REDIS_PORT, ns().nsAddr);
    let out = '';
    socket.setTimeout(2000, () => socket.destroy(new Error('INFO timed out')));
    socket.on('data', (d) => {
      out += String(d);
      const m = /total_connections_received:(\d+)/.exec(out);
      if (m) {
        socket.destroy();
        resolve(Number(m[1]));
      }
    });
    socket.on('error', reject);
    socket.write('INFO stats\r\n');
  });
}

let redis: ChildProcess | null = null;
let hub: RunningHub | null = null;
let client: HubClient | null = null;

beforeAll(async () => {
  net_ = createVethNamespace('thpart', '10.213.7.0');
  const { name: NS, nsAddr: REDIS_ADDR } = ns();
  const bin = redisServerPath();
  let stderr = '';
  redis = spawn('ip', ['netns', 'exec', NS, bin, '--port', String(REDIS_PORT), '--bind', REDIS_ADDR, '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  redis.stderr!.on('data', (d) => (stderr += String(d)));
  await until(`redis-server in ${NS} to answer PING (${stderr})`, pingRedis, 10_000, 50);
  hub = await startHub(testConfig({ publishKey: 'partition-key', redisUrl: `redis://${REDIS_ADDR}:${REDIS_PORT}` }));
}, 20_000);

afterAll(async () => {
  client?.close();
  attempt(heal);
  await hub?.close();
  if (redis && redis.exitCode === null) {
    const exited = new Promise((r) => redis!.once('exit', r));
    redis.kill('SIGKILL');
    await exited;
  }
  net_?.remove();
}, 15_000);

interface Seen {
  seqs: number[];
  resets: string[];
}

describe('a network partition between a node and Redis (no RST, packets dropped)', () => {
  it('publishers get unavailable and /healthz 503 within bounds; after the heal a subscriber has every message once', async () => {
    const node = hub!;
    const health = async () => (await fetch(`${node.httpUrl}/healthz`)).status;
    expect(await health()).toBe(200);

    const seen: Seen = { seqs: [], resets: [] };
    client = new HubClient({
      url: node.wsUrl,
      minBackoffMs: 10,
      maxBackoffMs: 100,
      connect: (url, protocol) => new WebSocket(url, protocol) as unknown as WebSocketLike,
    });
    client.subscribe('part.t', (m) => seen.seqs.push(m.seq), { onReset: (r) => seen.resets.push(r.reason) });
    await until('the subscriber to be open', () => client!.status === 'open', 5000);
    await sleep(100);

    // A publisher on the same node, retrying each message on `unavailable` until it is acked.
    const acked: number[] = [];
    const errors: { at: number; code: string | undefined }[] = [];
    let stop = false;
    let i = 0;
    const publisher = (async () => {
      while (!stop) {
        i++;
        for (;;) {
          try {
            acked.push((await node.hub.publish('part.t', { i })).seq);
            break;
          } catch (err) {
            errors.push({ at: Date.now(), code: (err as { code?: string }).code });
            if (stop) return;
            await sleep(50);
          }
        }
        await sleep(10);
      }
    })();

    await until('some messages through before the partition', () => acked.length >= 20, 5000);
    const before = acked.length;
    const connectionsBefore = await connectionsReceived();

    const t0 = Date.now();
    partition();
    const health503 = await until('/healthz 503 during the partition', async () => ((await health()) === 503 ? Date.now() : 0), 8000, 50);
    const firstError = await until('a publisher error', () => errors[0]?.at, 8000);
    const body = (await (await fetch(`${node.httpUrl}/healthz`)).json()) as { status: string };
    const unavailableMs = firstError - t0;
    const degradedMs = health503 - t0;

    // Stay partitioned past the idle timeout (3 s), so the node drops both sockets and reconnects.
    await sleep(Math.max(0, t0 + 6000 - Date.now()));
    const duringPartition = acked.length;
    expect(await health()).toBe(503);

    const t1 = Date.now();
    heal();
    await until('the node ok after the heal', () => node.hub.brokerStatus === 'ok', 10_000, 20);
    const okMs = Date.now() - t1;
    await until('a publish acked after the heal', () => acked.length > duringPartition, 10_000);
    const publishMs = Date.now() - t1;
    await until('/healthz 200 after the heal', async () => (await health()) === 200, 5000, 50);
    await until('more messages after the heal', () => acked.length >= duringPartition + 20, 5000);
    stop = true;
    await publisher;
    // Both of the node's connections were dropped by their idle timeout and made again (the +1 is INFO's own).
    expect((await connectionsReceived()) - connectionsBefore).toBeGreaterThanOrEqual(3);
    const last = acked[acked.length - 1];
    await until(`the subscriber to reach seq ${last}`, () => seen.seqs.at(-1) === last || seen.resets.length > 0, 10_000);

    console.log(
      `partition: unavailable after ${unavailableMs} ms, /healthz 503 after ${degradedMs} ms; heal: broker ok after ${okMs} ms, first ack after ${publishMs} ms; ` +
        `acked ${before} before, ${duringPartition - before} during, ${acked.length - duringPartition} after; ${errors.length} errors; ${seen.seqs.length} delivered, ${seen.resets.length} resets`,
    );
    expect(errors.every((e) => e.code === 'unavailable')).toBe(true);
    expect(body).toMatchObject({ status: 'degraded' });
    expect(unavailableMs).toBeLessThan(2500); // the 2 s command timeout
    expect(degradedMs).toBeLessThan(3500); // heartbeat (1 s) + command timeout (2 s)
    expect(okMs).toBeLessThan(5000);
    if (seen.resets.length === 0) {
      // Every stored message once, in order: seqs are contiguous, and all acked ones are there.
      expect(seen.seqs).toEqual(Array.from({ length: last }, (_, k) => k + 1));
      expect(new Set(seen.seqs).size).toBe(seen.seqs.length);
      for (const seq of acked) expect(seen.seqs).toContain(seq);
    }
  }, 30_000);
});
