/** The app-mode batch publish (`pubs`): ordering, per-message results, partial failure, limits, rates. */
import { afterEach, describe, expect, it } from 'vitest';
import type { HubConfig } from '../../../server/config.ts';
import { startAppPublisher, type AppPublisher } from '../../support/app-publisher.ts';
import { openTap } from '../../support/ws-client.ts';

const KEY = 'batch-test-publish-key';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function publisher(overrides: Partial<HubConfig> = {}): Promise<AppPublisher> {
  const started = await startAppPublisher(KEY, overrides);
  cleanups.push(() => started.close());
  return started;
}

type Reply = { op: string; id?: number; results?: Array<{ seq?: number; ts?: number; error?: { code: string; message: string } }>; failed?: number; code?: string; message?: string };

describe('AppSession', () => {
  describe('#pubs', () => {
    it('publishes every message in order and answers once with their seqs', async () => {
      const { pub, wsUrl } = await publisher();
      const tap = await openTap(`${wsUrl}/bt.*`);
      cleanups.push(() => tap.close());
      const messages = [
        { topic: 'bt.a', data: { n: 1 } },
        { topic: 'bt.b', data: { n: 2 } },
        { topic: 'bt.a', data: { n: 3 } },
        { topic: 'bt.a', data: { n: 4 } },
      ];
      pub.send({ op: 'pubs', id: 7, messages });
      const reply = await pub.nextJson<Reply>((f) => f.id === 7);
      expect(reply.op).toBe('ok');
      expect(reply.failed).toBe(0);
      expect(reply.results!.map((r) => r.seq)).toEqual([1, 1, 2, 3]);
      for (const r of reply.results!) expect(typeof r.ts).toBe('number');
      for (let i = 0; i < 4; i++) await tap.next();
      const got = tap.frames.map((f) => JSON.parse(f) as { topic: string; seq: number; data: { n: number } });
      expect(got.map((m) => [m.topic, m.seq, m.data.n])).toEqual([
        ['bt.a', 1, 1],
        ['bt.b', 1, 2],
        ['bt.a', 2, 3],
        ['bt.a', 3, 4],
      ]);
      expect(pub.frames.filter((f) => JSON.parse(f).id === 7)).toHaveLength(1);
    });

    it('fails a bad message alone, with its own error, and publishes the others', async () => {
      const { pub, wsUrl } = await publisher();
      const tap = await openTap(`${wsUrl}/bt.>`);
      cleanups.push(() => tap.close());
      pub.send({
        op: 'pubs',
        id: 'b1',
        messages: [{ topic: 'bt.ok', data: 1 }, { topic: 'bad topic!', data: 2 }, { topic: 'bt.ok' }, 'nope', { topic: '$sys.x', data: 3 }, { topic: 'bt.ok', data: 4 }],
      });
      const reply = await pub.nextJson<Reply & { id: string }>((f) => f.id === 'b1');
      expect(reply.op).toBe('ok');
      expect(reply.failed).toBe(4);
      const [a, b, c, d, e, f] = reply.results!;
      expect(a.seq).toBe(1);
      expect(b.error?.code).toBe('bad_topic');
      expect(c.error).toEqual({ code: 'bad_request', message: "a batch message needs 'data'" });
      expect(d.error?.code).toBe('bad_request');
      expect(e.error?.code).toBe('forbidden');
      expect(f.seq).toBe(2);
      await tap.next();
      await tap.next();
      expect(tap.frames.map((x) => JSON.parse(x).data)).toEqual([1, 4]);
    });

    it('refuses a batch over MAX_BATCH_MESSAGES, or empty, or without messages, publishing nothing', async () => {
      const { pub, wsUrl } = await publisher({ maxBatchMessages: 3 });
      const tap = await openTap(`${wsUrl}/bt.x`);
      cleanups.push(() => tap.close());
      const four = [1, 2, 3, 4].map((n) => ({ topic: 'bt.x', data: n }));
      pub.send({ op: 'pubs', id: 1, messages: four });
      const big = await pub.nextJson<Reply>((f) => f.id === 1);
      expect(big).toMatchObject({ op: 'error', code: 'payload_too_large' });
      expect(big.message).toContain('MAX_BATCH_MESSAGES');
      pub.send({ op: 'pubs', id: 2, messages: [] });
      expect(await pub.nextJson<Reply>((f) => f.id === 2)).toMatchObject({ op: 'error', code: 'bad_request' });
      pub.send({ op: 'pubs', id: 3, messages: { topic: 'bt.x', data: 1 } });
      expect(await pub.nextJson<Reply>((f) => f.id === 3)).toMatchObject({ op: 'error', code: 'bad_request' });
      pub.send({ op: 'pubs', id: 4, messages: four.slice(0, 3) });
      expect((await pub.nextJson<Reply>((f) => f.id === 4)).results!.map((r) => r.seq)).toEqual([1, 2, 3]);
      await tap.next();
      expect(JSON.parse(tap.frames[0]).seq).toBe(1); // the refused batches published nothing before it
    });

    it('counts every message against the rate limit, not the frame', async () => {
      // A publisher's burst is PUBLISHER_RATE_LIMIT (100 tokens): the first batch spends 60, the
      // second's frame 1 more, and its other 49 messages are more than the 39 left.
      const { pub } = await publisher({ publisherRateLimitPerSecond: 100 });
      const batch = (n: number) => Array.from({ length: n }, (_, i) => ({ topic: 'bt.r', data: i }));
      pub.send({ op: 'pubs', id: 1, messages: batch(60) });
      expect((await pub.nextJson<Reply>((f) => f.id === 1)).failed).toBe(0);
      pub.send({ op: 'pubs', id: 2, messages: batch(50) });
      const limited = await pub.nextJson<Reply>((f) => f.id === 2);
      expect(limited).toMatchObject({ op: 'error', code: 'rate_limited' });
      expect(limited.message).toContain('messages/s (PUBLISHER_RATE_LIMIT)');
      pub.send({ op: 'pubs', id: 3, messages: batch(200) });
      const over = await pub.nextJson<Reply>((f) => f.id === 3);
      expect(over.code).toBe('rate_limited');
      expect(over.message).toContain('more than the burst of 100');
    });
  });
});
