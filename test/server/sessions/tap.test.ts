/**
 * Taps that resume: a `rt.*` tap on node A of two nodes on one Redis loses its node, and a new
 * tap on node B, with the URL built from what the first one saw (per-topic seqs, the welcome's
 * epoch and ts), gets everything after those positions, once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubMessage, ResetFrame } from '../../../protocol/wire.ts';
import { testConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { TestRedis } from '../../support/redis-server.ts';
import { openTap, sleep, upgradeStatus, type TapSocket } from '../../support/ws-client.ts';
import { until } from '../../support/until.ts';

let redis: TestRedis;
let a: RunningHub;
let b: RunningHub;
let aClosed = false;
const taps: TapSocket[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  const node = () => startHub(testConfig({ publishKey: 'tap-resume-key', redisUrl: redis.url }));
  [a, b] = await Promise.all([node(), node()]);
});
afterAll(async () => {
  for (const t of taps) t.ws.terminate();
  await Promise.all([aClosed ? undefined : a?.close(), b?.close()]);
  await redis?.stop();
});

async function tap(url: string): Promise<TapSocket> {
  const t = await openTap(url);
  taps.push(t);
  return t;
}

const frames = (t: TapSocket) => t.frames.map((f) => JSON.parse(f) as HubMessage | ResetFrame);
const messages = (t: TapSocket) => frames(t).filter((f): f is HubMessage => !('op' in f));

/** Per topic, the seqs a tap got, in arrival order. */
function seqsByTopic(t: TapSocket): Map<string, number[]> {
  const by = new Map<string, number[]>();
  for (const m of messages(t)) by.set(m.topic, [...(by.get(m.topic) ?? []), m.seq]);
  return by;
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, k) => from + k);

describe('TapSession', () => {
  it('a rt.* tap resumes on another node from its per-topic seqs, epoch and sinceTs: zero loss, zero duplicates', async () => {
    const last = new Map<string, number>(); // the highest seq published per topic
    const publish = async (topic: string, i: number) => last.set(topic, (await b.hub.publish(topic, { i })).seq);
    // Published before the first tap opened, then again only while it is away.
    for (let i = 0; i < 3; i++) await publish('rt.OLD', i);
    await sleep(5); // sinceTs is in ms: a message in the welcome's own ms counts as possibly missed and is replayed

    const first = await tap(`${a.wsUrl}/rt.*`);
    expect(first.welcome).toMatchObject({ op: 'welcome', v: 1, epoch: a.hub.epoch, node: a.hub.nodeId });
    expect(a.hub.epoch).toBe(b.hub.epoch); // one Redis, one epoch

    // Publishing on B runs on two topics the whole time: while A goes away and while the new tap opens.
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing; i++) {
        await publish(i % 2 ? 'rt.MSFT' : 'rt.AAPL', i);
        if (i % 4 === 0) await sleep(1);
      }
    })();
    await until('the first tap to see both topics', () => seqsByTopic(first).get('rt.MSFT')?.length! >= 20 && seqsByTopic(first).get('rt.AAPL')?.length! >= 20);

    aClosed = true;
    await a.close();
    await first.closed;
    const seen = seqsByTopic(first);
    expect(seen.has('rt.OLD')).toBe(false);
    // What the tap recorded: its last seq per topic, and the welcome's epoch and ts.
    const positions = new Map([...seen].map(([topic, seqs]) => [topic, seqs.at(-1)!]));

    await sleep(30); // messages the tap misses while it is away
    await publish('rt.NEW', 0); // a topic first published while the tap is away
    await publish('rt.OLD', 3);
    await publish('rt.NEW', 1);

    const since = [...positions].map(([topic, seq]) => `${topic}:${seq}`).join(',');
    const second = await tap(`${b.wsUrl}/rt.*?epoch=${first.welcome.epoch}&since=${since}&sinceTs=${first.welcome.ts}`);
    expect(second.welcome).toMatchObject({ op: 'welcome', epoch: b.hub.epoch, node: b.hub.nodeId });
    await sleep(30);
    publishing = false;
    await publisher;
    await publish('rt.NEW', 2);

    await until('the second tap to catch up on every topic', () => [...last].every(([topic, seq]) => seqsByTopic(second).get(topic)?.at(-1) === seq));
    expect(frames(second).filter((f) => 'op' in f)).toEqual([]); // no reset, no error
    const resumed = seqsByTopic(second);
    for (const topic of ['rt.AAPL', 'rt.MSFT']) {
      // Everything after the position, in order, once; and the first tap's seqs before it, once.
      expect(resumed.get(topic), topic).toEqual(range(positions.get(topic)! + 1, last.get(topic)!));
      expect(seen.get(topic), topic).toEqual(range(seen.get(topic)![0], positions.get(topic)!));
      expect(positions.get(topic)! < last.get(topic)!, `${topic} had messages while the tap was away`).toBe(true);
    }
    expect(resumed.get('rt.NEW')).toEqual([1, 2, 3]); // first published while away: all of it, from sinceTs
    expect(resumed.get('rt.OLD')).toEqual([4]); // not seen before: only what came after the first welcome
  }, 30_000);

  it('a tap resuming with another epoch gets a reset per listed topic, then what history holds', async () => {
    await b.hub.publish('ep.a', { n: 1 });
    await b.hub.publish('ep.b', { n: 1 });
    const t = await tap(`${b.wsUrl}/ep.*?epoch=not-this-one&since=ep.a:1,ep.b:1&snapshot=1`);
    await until('two resets', () => frames(t).filter((f) => 'op' in f).length >= 2);
    const resets = frames(t).filter((f): f is ResetFrame => 'op' in f);
    expect(resets.map((r) => r.topic).sort()).toEqual(['ep.a', 'ep.b']);
    for (const r of resets) expect(r).toEqual({ op: 'reset', topic: r.topic, epoch: b.hub.epoch, reason: 'epoch' });
    await until('a fresh snapshot of each topic', () => messages(t).length >= 2);
    expect(messages(t).map((m) => `${m.topic}:${m.seq}`).sort()).toEqual(['ep.a:1', 'ep.b:1']);
  });

  it('refuses a malformed resume URL with a 400 before upgrading', async () => {
    expect(await upgradeStatus(`${b.wsUrl}/rt.*?since=rt.AAPL:x`)).toBe(400);
    expect(await upgradeStatus(`${b.wsUrl}/rt.*?since=3`)).toBe(400);
    expect(await upgradeStatus(`${b.wsUrl}/rt.*?since=other.AAPL:3`)).toBe(400);
    expect(await upgradeStatus(`${b.wsUrl}/rt.*?sinceTs=yesterday`)).toBe(400);
    const res = await fetch(`${b.httpUrl}/ws/rt.*?since=rt.AAPL:1,rt.AAPL:2`); // checked before the upgrade header
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: 'bad_request', message: "'since' lists rt.AAPL more than once" } });
  });
});
