/**
 * Two hub nodes on one real Redis, one of them reaching it through a delay relay: there every
 * Redis round trip, SUBSCRIBE included, takes 2 x `delayMs`, which opens the window between a
 * client's subscribe and the moment its subscription is live wide and deterministic. The other
 * node publishes at full speed, and `publishing` records, for every acknowledged publish, whether
 * the client had already received its acknowledgement (welcome, `ok`) when the ack came back.
 *
 * @example
 * const nodes = await startSlowSubscribeNodes(150);
 * const run = publishing(nodes.fast, ['w.a'], () => welcomed());
 * ... await run.stop(); run.ackedAfter('w.a') // seqs the client must get
 */
import { testConfig } from '../../server/config.ts';
import { startHub, type RunningHub } from '../../server/server.ts';
import { startDelayRelay, type DelayRelay } from './delay-relay.ts';
import { TestRedis } from './redis-server.ts';

export interface SlowSubscribeNodes {
  redis: TestRedis;
  /** Reaches Redis through the relay: its subscriptions take 2 x delayMs to go live. */
  slow: RunningHub;
  /** Reaches Redis directly; the publisher. */
  fast: RunningHub;
  close(): Promise<void>;
}

export async function startSlowSubscribeNodes(delayMs: number, publishKey = 'slow-subscribe-key'): Promise<SlowSubscribeNodes> {
  const redis = await TestRedis.start();
  let relay: DelayRelay | null = null;
  const nodes: RunningHub[] = [];
  const close = async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await relay?.stop();
    await redis.stop();
  };
  const config = { publishKey, retention: [{ pattern: '>', maxMessages: 100_000, maxAgeSeconds: 600 }] }; // resumes reach back far
  try {
    relay = await startDelayRelay({ host: '127.0.0.1', port: redis.port, delayMs, windowBytes: 1 << 20 });
    nodes.push(await startHub(testConfig({ ...config, redisUrl: `redis://127.0.0.1:${relay.port}` })));
    nodes.push(await startHub(testConfig({ ...config, redisUrl: redis.url })));
  } catch (err) {
    await close();
    throw err;
  }
  return { redis, slow: nodes[0], fast: nodes[1], close };
}

export interface Publishing {
  /** Stop publishing; resolves once the last publish is acknowledged. */
  stop(): Promise<void>;
  /** Seqs of `topic` acknowledged after the client had its acknowledgement, in order. */
  ackedAfter(topic: string): number[];
  /** The last seq acknowledged on `topic` (0 if none). */
  last(topic: string): number;
}

/**
 * Publish to `topics` in turn, one at a time (each awaits its ack), until stopped; `acknowledged`
 * says, when an ack comes back, whether the client had its welcome (or `ok`) already.
 */
export function publishing(node: RunningHub, topics: readonly string[], acknowledged: () => boolean): Publishing {
  const acks: { topic: string; seq: number; after: boolean }[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const topic = topics[i % topics.length];
      const { seq } = await node.hub.publish(topic, { i });
      acks.push({ topic, seq, after: acknowledged() });
      if (i % 8 === 7) await new Promise((r) => setTimeout(r, 1)); // let the slow node's sockets in
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
    ackedAfter: (topic) => acks.filter((a) => a.topic === topic && a.after).map((a) => a.seq),
    last: (topic) => acks.filter((a) => a.topic === topic).at(-1)?.seq ?? 0,
  };
}

/** Seqs `from`..`to`, both included. */
export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, k) => from + k);

/**
 * Make `redis` refuse (NOPERM) every new subscription of the hub's except a node's own tick
 * channel (`th:t:<node>`), with the connections up: a broker error on subscribe, nothing else.
 * Returns the undo. A connection subscribed to anything else is dropped by Redis meanwhile.
 */
export async function refuseSubscriptions(redis: TestRedis): Promise<() => Promise<void>> {
  const reply = await redis.command('ACL', 'SETUSER', 'default', 'resetchannels', '&th:t:*');
  if (!reply.startsWith('+OK')) throw new Error(`ACL SETUSER failed: ${reply}`);
  return async () => {
    await redis.command('ACL', 'SETUSER', 'default', 'allchannels');
  };
}
