/**
 * The SSE resume scenario, shared by the Redis-mode test (two hub processes) and the proxy tests:
 * a wildcard stream over several topics loses its node (kill -9) while a publisher keeps going;
 * a new stream sent the last id it saw as Last-Event-ID, opened elsewhere, must end up with every
 * message exactly once, in order per topic, with ids that never go backwards.
 */
import { expect } from 'vitest';
import { openSse, type SseStream } from './sse-client.ts';
import { sleep, until } from './until.ts';

export interface ResumeScenario {
  /** Where the first stream opens (`http://host:port`). */
  firstBase: string;
  /** Where the resumed stream opens (another node, or the same proxy). */
  resumeBase: string;
  /** Topics `<prefix>.a`, `.b`, `.c` are published; the streams subscribe `<prefix>.*`. */
  prefix: string;
  /** Publish one message to a node that stays up; resolves with its seq. */
  publish(topic: string, data: unknown): Promise<number>;
  /** Kill the first stream's node. */
  kill(): void | Promise<void>;
}

export interface ResumeResult {
  /** From the kill until the resumed stream's welcome (ms). */
  reconnectMs: number;
  /** Messages the first and the resumed stream got. */
  before: number;
  after: number;
}

/** Run the scenario; assertions fail the calling test. */
export async function resumeAcrossKill(s: ResumeScenario): Promise<ResumeResult> {
  const topics = ['a', 'b', 'c'].map((t) => `${s.prefix}.${t}`);
  const url = (base: string) => `${base}/sse/${s.prefix}.*`;
  const first = await openSse(url(s.firstBase));
  expect(first.status).toBe(200);
  await first.next((e) => e.event === 'welcome');
  const published = new Map<string, number>();
  let stop = false;
  let count = 0;
  const publisher = (async () => {
    for (let i = 0; !stop; i++) {
      const topic = topics[i % topics.length];
      published.set(topic, await s.publish(topic, { i }));
      count++;
      await sleep(2);
    }
  })();
  let second: SseStream | undefined;
  try {
    await until('the first stream to get 30 messages', () => first.messages().length >= 30);
    const killedAt = performance.now();
    await s.kill();
    await Promise.race([first.ended, sleep(10_000).then(() => Promise.reject(new Error('the first stream did not end within 10 s of the kill')))]);
    const lastId = first.lastEventId!;
    expect(lastId).toMatch(/^[A-Za-z0-9_-]+:\d+$/);
    // A proxy may answer 502/503 for a moment while it notices the node is gone: retry as EventSource would.
    second = await until('a resumed stream', async () => {
      const attempt = await openSse(url(s.resumeBase), { 'Last-Event-ID': lastId }).catch(() => null);
      if (attempt?.status === 200) return attempt;
      attempt?.close();
      await sleep(50);
      return null;
    });
    const resumed = second;
    await resumed.next((e) => e.event === 'welcome');
    const reconnectMs = performance.now() - killedAt;
    const countAtResume = count;
    await until('30 more messages published', () => count >= countAtResume + 30);
    stop = true;
    await publisher;
    const total = count;
    // Caught up when each topic's last published seq has arrived. Not a count: a fresh stream's
    // subscriptions take effect after its welcome (in Redis mode a SUBSCRIBE round trip later), so
    // the first stream may start after the very first messages; contiguity is checked below.
    const lastSeen = (topic: string) => [...first.messages(), ...resumed.messages()].filter((m) => m.topic === topic).at(-1)?.seq;
    const caughtUp = () => topics.every((t) => lastSeen(t) === published.get(t));
    await until('the resumed stream to catch up', caughtUp, 10_000).catch(() => {
      const seen = [...first.messages(), ...resumed.messages()].map((m) => `${m.topic}:${m.seq}`);
      throw new Error(`resumed stream behind: ${seen.length} of ${total}; last id ${lastId}; resumed events ${JSON.stringify(resumed.events.slice(0, 3))}; published ${JSON.stringify([...published])}; last seen ${seen.slice(-6).join(' ')}`);
    });
    await sleep(100); // anything extra (a duplicate) would arrive now
    expect(resumed.events.filter((e) => e.event === 'reset')).toEqual([]);
    const got = new Map<string, number[]>();
    for (const m of [...first.messages(), ...resumed.messages()]) got.set(m.topic, [...(got.get(m.topic) ?? []), m.seq]);
    for (const topic of topics) {
      const seqs = got.get(topic) ?? [];
      const from = seqs[0];
      // Every seq from the first received to the last published, once, in order.
      expect(seqs, topic).toEqual(Array.from({ length: published.get(topic)! - from + 1 }, (_, k) => from + k));
    }
    const ids = resumed.events.filter((e) => e.event === 'message' && e.id !== undefined).map((e) => Number(e.id!.split(':')[1]));
    expect(ids.every((p, i) => i === 0 || p > ids[i - 1])).toBe(true);
    expect(Number(ids[0])).toBeGreaterThan(Number(lastId.split(':')[1]));
    return { reconnectMs, before: first.messages().length, after: resumed.messages().length };
  } finally {
    stop = true;
    await publisher.catch(() => {});
    first.close();
    second?.close();
  }
}
