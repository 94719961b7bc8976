/** The app-mode batch publish (`pubs`): ordering, per-message results, partial failure, limits, rates. */
import { afterEach, describe, expect, it } from 'vitest';
import type { HubConfig } from '../../../server/config.ts';
import { batchReplyFields, type BatchReply } from '../../../server/sessions/batch.ts';
import { startAppPublisher, type AppPublisher } from '../../support/app-publisher.ts';
import { TestRedis } from '../../support/redis-server.ts';
import { DATA_SPELLINGS, dataTexts, openTap } from '../../support/ws-client.ts';

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

describe('batchReplyFields', () => {
  it('is the JSON of the reply, error texts with quotes, backslashes and controls included', () => {
    const reply: BatchReply = {
      results: [
        { seq: 1, ts: 1764100000123 },
        { error: { code: 'bad_topic', message: `invalid token 'a"b\\c\u0001\u2028' ${'\u{1F600}'}` } },
        { seq: 9007199254740991, ts: 0 },
      ],
      failed: 1,
    };
    const json = `{${batchReplyFields(reply)}}`;
    expect(json).toBe(JSON.stringify(reply));
    expect(JSON.parse(json)).toEqual(reply);
  });
});

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

    it('delivers the same text whether the batch takes the fast reader (the usual shape) or the general path', async () => {
      const { pub, wsUrl } = await publisher();
      const tap = await openTap(`${wsUrl}/bt.*`);
      cleanups.push(() => tap.close());
      const data = DATA_SPELLINGS.map(([sent]) => sent);
      const usual = `{"op":"pubs","id":1,"messages":[${data.map((d) => `{"topic":"bt.a","data":${d}}`).join(',')}]}`;
      const reordered = `{"id":2,"op":"pubs","messages":[${data.map((d) => `{"data":${d},"topic":"bt.b"}`).join(',')}]}`;
      pub.send(usual);
      pub.send(reordered);
      const [fast, general] = [await pub.nextJson<Reply>((f) => f.id === 1), await pub.nextJson<Reply>((f) => f.id === 2)];
      expect([fast.failed, general.failed]).toEqual([0, 0]);
      for (let i = 0; i < 2 * data.length; i++) await tap.next();
      const byTopic = (t: string) => dataTexts(tap.frames, t);
      expect(byTopic('bt.a')).toEqual(byTopic('bt.b'));
      expect(byTopic('bt.a')).toEqual(DATA_SPELLINGS.map(([, delivered]) => delivered));
    });

    it('a pub delivers the same text through the fast reader (the usual shape) and the general path', async () => {
      const { pub, wsUrl } = await publisher();
      const tap = await openTap(`${wsUrl}/bt.*`);
      cleanups.push(() => tap.close());
      const data = DATA_SPELLINGS.map(([sent]) => sent);
      data.forEach((d, k) => {
        pub.send(`{"op":"pub","id":${10 + k},"topic":"bt.a","data":${d}}`);
        pub.send(`{"topic":"bt.b","data":${d},"op":"pub","id":${20 + k}}`);
      });
      for (let k = 0; k < data.length; k++) {
        expect((await pub.nextJson<Reply>((f) => f.id === 10 + k)).op).toBe('ok');
        expect((await pub.nextJson<Reply>((f) => f.id === 20 + k)).op).toBe('ok');
      }
      for (let i = 0; i < 2 * data.length; i++) await tap.next();
      const byTopic = (t: string) => dataTexts(tap.frames, t);
      expect(byTopic('bt.a')).toEqual(byTopic('bt.b'));
      expect(byTopic('bt.a')).toEqual(DATA_SPELLINGS.map(([, delivered]) => delivered));
    });

    it('answers hostile frames of the fast shape as the general path does, publishing nothing from them', async () => {
      const { pub, wsUrl } = await publisher();
      const tap = await openTap(`${wsUrl}/bt.>`);
      cleanups.push(() => tap.close());
      const deep = '['.repeat(65) + '1' + ']'.repeat(65);
      const item = (topic: string, data: string) => `{"topic":"${topic}","data":${data}}`;
      const frames: Array<[string, string]> = [
        // valid items, then one that breaks the JSON: the whole frame is bad JSON, nothing published
        [`{"op":"pubs","id":11,"messages":[${item('bt.a', '1')},${item('bt.a', '[1,')}]}`, 'bad_json'],
        [`{"op":"pubs","id":12,"messages":[${item('bt.a', '1')},${item('bt.a', '1')}`, 'bad_json'],
        [`{"op":"pubs","id":13,"messages":[${item('bt.a', '"\\u12g4"')}]}`, 'bad_json'],
        [`{"op":"pub","id":14,"topic":"bt.a","data":{"a":01}}`, 'bad_json'],
        [`{"op":"pub","id":15,"topic":"bt.a","data":"raw\u0001control"}`, 'bad_json'],
        // valid JSON the hub refuses
        [`{"op":"pub","id":16,"topic":"bt.a","data":${deep}}`, 'bad_request'],
        [`{"op":"pub","id":17,"topic":"bt..a","data":1}`, 'bad_topic'],
        [`{"op":"pubs","id":18,"messages":[${Array.from({ length: 1001 }, () => item('bt.a', '1')).join(',')}]}`, 'payload_too_large'],
      ];
      for (const [frame, code] of frames) {
        pub.send(frame);
        const id = Number(/"id":(\d+)/.exec(frame)![1]);
        const reply = await pub.nextJson<Reply>((f) => f.id === id || (f.op === 'error' && f.id === undefined));
        expect([reply.op, reply.code], frame.slice(0, 80)).toEqual(['error', code]);
      }
      // A deep item inside a batch fails alone; the connection and the hub go on.
      pub.send(`{"op":"pubs","id":19,"messages":[${item('bt.a', deep)},${item('bt.a', '{"ok":true}')}]}`);
      const batch = await pub.nextJson<Reply>((f) => f.id === 19);
      expect(batch.results!.map((r) => r.error?.code ?? r.seq)).toEqual(['bad_request', 1]);
      await tap.next();
      expect(tap.frames).toHaveLength(1);
      expect(JSON.parse(tap.frames[0]).data).toEqual({ ok: true });
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

    it('answers in request order around the acks of single publishes (the batch is published and answered in its turn)', async () => {
      const { pub } = await publisher();
      pub.send({ op: 'pub', id: 1, topic: 'bt.o', data: 1 });
      pub.send({ op: 'pubs', id: 2, messages: [{ topic: 'bt.o', data: 2 }, { topic: 'bt.o', data: 3 }] });
      pub.send({ op: 'pub', id: 3, topic: 'bt.o', data: 4 });
      await pub.nextJson<Reply>((f) => f.id === 3);
      const replies = pub.frames.map((f) => JSON.parse(f) as Reply & { seq?: number }).filter((f) => f.op === 'ok');
      expect(replies.map((r) => r.id)).toEqual([1, 2, 3]);
      expect(replies[1].results!.map((r) => r.seq)).toEqual([2, 3]);
      expect(replies[2].seq).toBe(4);
    });

    it('publishes a routed topic (chat, asynchronous) among plain ones in order, each with its own result', async () => {
      const { pub, wsUrl } = await publisher();
      const plain = await openTap(`${wsUrl}/bt.*`);
      const chat = await openTap(`${wsUrl}/chat`);
      cleanups.push(() => plain.close(), () => chat.close());
      const messages = [
        { topic: 'bt.a', data: 1 },
        { topic: 'chat', data: { text: 'first' } },
        { topic: 'bt.a', data: 2 },
        { topic: 'chat', data: { text: '' } }, // refused by the chat rule
        { topic: 'chat', data: { text: 'second' } },
        { topic: 'bad topic', data: 3 },
        { topic: 'bt.b', data: 4 },
      ];
      pub.send({ op: 'pubs', id: 9, messages });
      const reply = await pub.nextJson<Reply>((f) => f.id === 9);
      expect(reply.op).toBe('ok');
      expect(reply.failed).toBe(2);
      const [a1, c1, a2, cBad, c2, bad, b1] = reply.results!;
      expect([a1.seq, a2.seq, b1.seq]).toEqual([1, 2, 1]);
      expect(c2.seq).toBe(c1.seq! + 1);
      expect(cBad.error).toEqual({ code: 'bad_request', message: "chat data needs a non-empty 'text' string" });
      expect(bad.error?.code).toBe('bad_topic');
      for (let i = 0; i < 3; i++) await plain.next();
      expect(plain.frames.map((f) => JSON.parse(f).data)).toEqual([1, 2, 4]);
      // The publisher's guest nick joins chat (a hub line, `kind` set) before its first line is said.
      const said = () => chat.frames.map((f) => JSON.parse(f) as { seq: number; data: { kind?: string; text: string } }).filter((m) => m.data.kind === undefined);
      while (said().length < 2) await chat.next();
      expect(said().map((m) => [m.seq, m.data.text])).toEqual([
        [c1.seq, 'first'],
        [c2.seq, 'second'],
      ]);
      expect(pub.frames.filter((f) => JSON.parse(f).id === 9)).toHaveLength(1);
    });
  });

  describe('#pubs over the Redis broker (every message asynchronous)', () => {
    it('keeps the order, the seqs and the partial failure of the memory broker', async () => {
      const redis = await TestRedis.start();
      cleanups.push(() => redis.stop());
      const { pub, wsUrl } = await publisher({ redisUrl: redis.url });
      const tap = await openTap(`${wsUrl}/br.*`);
      cleanups.push(() => tap.close());
      const messages = [
        { topic: 'br.a', data: 1 },
        { topic: 'br.b', data: 2 },
        { topic: 'br..x', data: 0 },
        { topic: 'br.a', data: 3 },
        { topic: 'br.a' },
        { topic: 'br.a', data: 4 },
      ];
      pub.send({ op: 'pubs', id: 5, messages });
      const reply = await pub.nextJson<Reply>((f) => f.id === 5);
      expect(reply.op).toBe('ok');
      expect(reply.failed).toBe(2);
      expect(reply.results!.map((r) => r.seq ?? r.error!.code)).toEqual([1, 1, 'bad_topic', 2, 'bad_request', 3]);
      for (let i = 0; i < 4; i++) await tap.next();
      expect(tap.frames.map((f) => JSON.parse(f) as { topic: string; seq: number; data: number }).map((m) => [m.topic, m.seq, m.data])).toEqual([
        ['br.a', 1, 1],
        ['br.b', 1, 2],
        ['br.a', 2, 3],
        ['br.a', 3, 4],
      ]);
    });
  });
});
