import { describe, expect, it } from 'vitest';
import type { Envelope, HistoryPage, HistoryQuery, LostNotice } from '../../../../server/broker/broker.ts';
import { Sequencer, type HistorySource } from '../../../../server/broker/redis/sequencer.ts';

const env = (topic: string, seq: number, ts = seq): Envelope => ({ topic, seq, ts, pos: seq, json: `{"topic":"${topic}","seq":${seq}}` });

/** A fake Redis: per-topic retained messages (a window), an epoch, and a log of what was read. */
class FakeHistory implements HistorySource {
  epochNow = 'e1';
  up = true;
  readonly streams = new Map<string, { first: number; last: number; ts?: (seq: number) => number }>();
  readonly reads: string[] = [];
  failNext = 0;
  localPatterns = ['>'];
  ready = () => this.up;
  prepare = async () => {};
  epoch = async () => this.epochNow;
  rotateEpoch = async (old: string) => (this.epochNow = `${old}-rotated`);
  async history(topic: string, { since }: HistoryQuery): Promise<HistoryPage> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('redis down');
    }
    this.reads.push(`${topic}>${since ?? '-'}`);
    const s = this.streams.get(topic) ?? { first: 1, last: 0 };
    const from = Math.max(s.first, (since ?? 0) + 1);
    const messages: Envelope[] = [];
    for (let q = from; q <= s.last; q++) messages.push(env(topic, q, s.ts ? s.ts(q) : q));
    const truncated = since !== undefined && since + 1 < s.first && since < s.last;
    return { epoch: this.epochNow, messages, lastSeq: s.last, truncated };
  }
  topics = async () => [...this.streams.keys()];
  patterns = () => this.localPatterns;
}

function setup(epoch = 'e1') {
  const source = new FakeHistory();
  source.epochNow = epoch;
  const delivered: string[] = [];
  const lost: LostNotice[] = [];
  const epochs: string[] = [];
  const retries: unknown[] = [];
  const seq = new Sequencer(epoch, source, {
    deliver: (e) => delivered.push(`${e.topic}:${e.seq}`),
    lost: (n) => lost.push(n),
    epochChanged: (_old, e) => epochs.push(e),
    retrying: (err) => retries.push(err),
  }, 1);
  return { source, seq, delivered, lost, epochs, retries };
}

describe('Sequencer', () => {
  it('#receive delivers in order and drops the copies overlapping subscriptions bring', () => {
    const { seq, delivered } = setup();
    for (const s of [1, 2, 2, 3, 1]) seq.receive(env('a', s), 'e1');
    seq.receive(env('b', 1), 'e1');
    expect(delivered).toEqual(['a:1', 'a:2', 'a:3', 'b:1']);
  });

  it('a gap holds live messages, fills it from history, then delivers what was held, once each', async () => {
    const { seq, source, delivered } = setup();
    seq.receive(env('a', 1), 'e1');
    source.streams.set('a', { first: 1, last: 6 });
    seq.receive(env('a', 5), 'e1'); // 2-4 were dropped by pub/sub
    expect(seq.holding).toBe(true);
    seq.receive(env('a', 6), 'e1'); // arrives during the recovery: held
    await seq.recover();
    expect(delivered).toEqual(['a:1', 'a:2', 'a:3', 'a:4', 'a:5', 'a:6']);
    expect(seq.holding).toBe(false);
    expect(source.reads).toContain('a>1');
  });

  it('a gap already trimmed from history is reported as lost for that topic only', async () => {
    const { seq, source, delivered, lost } = setup();
    seq.receive(env('a', 1), 'e1');
    seq.receive(env('b', 1), 'e1');
    source.streams.set('a', { first: 10, last: 12 }); // 2-9 trimmed
    source.streams.set('b', { first: 1, last: 1 });
    seq.hold();
    await seq.recover();
    expect(lost).toEqual([{ topics: ['a'], reason: 'trimmed' }]);
    expect(delivered).toEqual(['a:1', 'b:1', 'a:10', 'a:11', 'a:12']);
  });

  it('a message of a new epoch adopts it: lost(epoch), counters reset; late messages of the old epoch are dropped', () => {
    const { seq, delivered, lost, epochs } = setup();
    seq.receive(env('a', 7), 'e1');
    seq.receive(env('a', 1), 'e2');
    expect(lost).toEqual([{ topics: null, reason: 'epoch' }]);
    expect(epochs).toEqual(['e2']);
    expect(seq.epoch).toBe('e2');
    seq.receive(env('a', 8), 'e1'); // published before the change: never re-adopted
    seq.receive(env('a', 2), 'e2');
    expect(delivered).toEqual(['a:7', 'a:1', 'a:2']);
  });

  it('history that went back within an epoch (an old snapshot) rotates to a new epoch', async () => {
    const { seq, source, lost, epochs } = setup();
    seq.receive(env('a', 1), 'e1');
    seq.receive(env('a', 2), 'e1');
    seq.receive(env('a', 3), 'e1');
    source.streams.set('a', { first: 1, last: 1 }); // Redis restarted from a snapshot taken at seq 1
    seq.hold();
    await seq.recover();
    expect(epochs).toEqual(['e1-rotated']);
    expect(lost).toEqual([{ topics: null, reason: 'epoch' }]);
    expect(seq.holding).toBe(false);
  });

  it('topics first published while cut off are replayed from the last alive mark, if a local pattern matches', async () => {
    const { seq, source, delivered } = setup();
    source.localPatterns = ['new.*'];
    seq.alive(100);
    source.streams.set('new.x', { first: 1, last: 3, ts: (q) => 90 + q * 5 }); // ts 95, 100, 105
    source.streams.set('other', { first: 1, last: 2 });
    seq.hold();
    await seq.recover();
    expect(delivered).toEqual(['new.x:2', 'new.x:3']);
  });

  it('a failed history read is retried until it works', async () => {
    const { seq, source, delivered, retries } = setup();
    seq.receive(env('a', 1), 'e1');
    source.streams.set('a', { first: 1, last: 3 });
    source.failNext = 2;
    seq.hold();
    await seq.recover();
    expect(retries).toHaveLength(2);
    expect(delivered).toEqual(['a:1', 'a:2', 'a:3']);
  });

  it('does not start while the live connection is down; keeps holding until a later recover', async () => {
    const { seq, source, delivered } = setup();
    seq.receive(env('a', 1), 'e1');
    source.up = false;
    source.streams.set('a', { first: 1, last: 2 });
    seq.hold();
    seq.receive(env('a', 2), 'e1');
    await seq.recover();
    expect(seq.holding).toBe(true);
    expect(delivered).toEqual(['a:1']);
    source.up = true;
    await seq.recover();
    expect(delivered).toEqual(['a:1', 'a:2']);
  });

  it('seq 1 with a newer time after a higher seq is a topic that started over, not a copy', () => {
    const { seq, delivered } = setup();
    seq.receive(env('a', 7, 100), 'e1');
    seq.receive(env('a', 7, 100), 'e1'); // a copy
    seq.receive(env('a', 1, 500), 'e1'); // forgotten while idle, started over
    seq.receive(env('a', 2, 501), 'e1');
    expect(delivered).toEqual(['a:7', 'a:1', 'a:2']);
  });

  it('a recovery that finds the seq went back because the topic was forgotten delivers the new run, no new epoch', async () => {
    const { seq, source, delivered, epochs } = setup();
    seq.receive(env('a', 9, 100), 'e1');
    source.streams.set('a', { first: 1, last: 2, ts: (q) => 1000 + q }); // all newer than what was delivered
    seq.hold();
    await seq.recover();
    expect(epochs).toEqual([]);
    expect(delivered).toEqual(['a:9', 'a:1', 'a:2']);
  });

  it('#forgetIdle drops the dedupe state of idle topics, a bounded slice at a time', () => {
    const { seq, delivered } = setup();
    for (let i = 0; i < 10; i++) seq.receive(env(`t${i}`, 5, i), 'e1');
    seq.forgetIdle(100, (topic) => topic !== 't0');
    for (let i = 0; i < 10; i++) seq.receive(env(`t${i}`, 5, i), 'e1'); // t0 still known: a copy
    expect(delivered.filter((d) => d === 't0:5')).toHaveLength(1);
    expect(delivered.filter((d) => d === 't1:5')).toHaveLength(2);
  });

  it('#forget stops tracking topics no longer covered (a later seq 1 is not a duplicate)', () => {
    const { seq, delivered } = setup();
    seq.receive(env('a', 5), 'e1');
    seq.forget((t) => t !== 'a');
    seq.receive(env('a', 1), 'e1');
    expect(delivered).toEqual(['a:5', 'a:1']);
  });
});
