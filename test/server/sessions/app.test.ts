/** AppSession's `pub`: the synchronous fast path (memory broker) and its acks, errors and order. */
import { afterEach, describe, expect, it } from 'vitest';
import type { HubConfig } from '../../../server/config.ts';
import { publishedReply } from '../../../server/sessions/app.ts';
import { startAppPublisher, type AppPublisher } from '../../support/app-publisher.ts';
import { DATA_SPELLINGS, dataTexts, openTap } from '../../support/ws-client.ts';

const KEY = 'app-session-test-key';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function publisher(overrides: Partial<HubConfig> = {}): Promise<AppPublisher> {
  const started = await startAppPublisher(KEY, overrides);
  cleanups.push(() => started.close());
  return started;
}

describe('publishedReply', () => {
  it('is the JSON of the ok reply, string ids escaped', () => {
    expect(JSON.parse(publishedReply(7, 3, 1000))).toEqual({ op: 'ok', id: 7, seq: 3, ts: 1000 });
    expect(JSON.parse(publishedReply('a"b\\c', 1, 2))).toEqual({ op: 'ok', id: 'a"b\\c', seq: 1, ts: 2 });
    expect(JSON.parse(publishedReply(-1.5e21, 1, 2)).id).toBe(-1.5e21);
  });
});

describe('AppSession', () => {
  describe('#pub', () => {
    it('acknowledges every publish in order, after its message is queued to subscribers', async () => {
      const { pub, wsUrl } = await publisher();
      const tap = await openTap(`${wsUrl}/ap.x`);
      cleanups.push(() => tap.close());
      for (let i = 1; i <= 50; i++) pub.send({ op: 'pub', id: i, topic: 'ap.x', data: { i } });
      pub.send({ op: 'pub', id: 'last', topic: 'ap.x', data: 'end' });
      const last = await pub.nextJson((f) => f.id === 'last');
      expect(last).toMatchObject({ op: 'ok', seq: 51 });
      const acks = pub.frames.map((f) => JSON.parse(f)).filter((f) => f.op === 'ok');
      expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
      for (let i = 0; i < 51; i++) await tap.next();
      expect(tap.frames.map((f) => JSON.parse(f).seq)).toEqual(acks.map((a) => a.seq));
    });

    it('answers a refusal with its id and keeps going: bad topic, forbidden, too many topics', async () => {
      const { pub } = await publisher({ maxTopics: 2 });
      pub.send({ op: 'pub', id: 1, topic: 'a..b', data: 1 });
      expect(await pub.nextJson((f) => f.id === 1)).toMatchObject({ op: 'error', code: 'bad_topic' });
      pub.send({ op: 'pub', id: 2, topic: '$sys.stats', data: 1 });
      expect(await pub.nextJson((f) => f.id === 2)).toMatchObject({ op: 'error', code: 'forbidden' });
      pub.send({ op: 'pub', id: 3, topic: 'ap.one', data: undefined });
      expect(await pub.nextJson((f) => f.id === 3)).toMatchObject({ op: 'error', code: 'bad_request' }); // no 'data' at all
      for (const [id, topic] of [[4, 'ap.one'], [5, 'ap.two'], [6, 'ap.three']] as const) pub.send({ op: 'pub', id, topic, data: id });
      expect(await pub.nextJson((f) => f.id === 6)).toMatchObject({ op: 'error', code: 'too_many_topics' });
      expect(pub.frames.map((f) => JSON.parse(f)).filter((f) => f.id === 4 || f.id === 5).map((f) => f.op)).toEqual(['ok', 'ok']);
    });

    it('publishes the data JSON.parse reads from a hostile general-shape frame, as written: escaped and duplicate keys, deep nesting beside it', async () => {
      const { pub, wsUrl } = await publisher();
      const tap = await openTap(`${wsUrl}/ap.k`);
      cleanups.push(() => tap.close());
      const deep = '['.repeat(20_000) + ']'.repeat(20_000);
      pub.send('{"op":"pub","id":1,"topic":"ap.k","data":1,"d\\u0061ta":{ "x" : 1.50 }}'); // the last `data` counts, as for JSON.parse
      pub.send(`{"junk":${deep},"op":"pub","id":2,"topic":"ap.k","data":"after"}`);
      pub.send(`{"op":"pub","id":3,"topic":"ap.k","data":${'['.repeat(65)}${']'.repeat(65)}}`); // too deep: refused, nothing published
      expect((await pub.nextJson((f) => f.id === 1)).op).toBe('ok');
      expect((await pub.nextJson((f) => f.id === 2)).op).toBe('ok');
      expect(await pub.nextJson((f) => f.id === 3)).toMatchObject({ op: 'error', code: 'bad_request' });
      await tap.next();
      await tap.next();
      expect(dataTexts(tap.frames, 'ap.k')).toEqual(['{"x":1.50}', '"after"']);
    });

    it('takes the routed path for chat (the chat rule applies)', async () => {
      const { pub, wsUrl } = await publisher();
      const tap = await openTap(`${wsUrl}/chat`);
      cleanups.push(() => tap.close());
      pub.send({ op: 'pub', id: 1, topic: 'chat', data: { text: 'hello' } });
      const reply = await pub.nextJson((f) => f.id === 1);
      expect(reply.op).toBe('ok');
      const line = await tap.nextJson<{ data: { text: string; nick: string; kind?: string } }>((f) => (f.data as { kind?: string })?.kind === undefined);
      expect(line.data.text).toBe('hello');
      expect(typeof line.data.nick).toBe('string'); // the chat service added the nick
    });
  });

  describe('#history', () => {
    it('pages each message as the text it was delivered live (data as written, big integers exact), over the op and GET /api/history', async () => {
      const { pub, wsUrl, httpUrl } = await publisher({ retention: [{ pattern: '>', maxMessages: 100, maxAgeSeconds: 60 }] });
      const tap = await openTap(`${wsUrl}/ah.x`);
      cleanups.push(() => tap.close());
      DATA_SPELLINGS.forEach(([sent], k) => pub.send(`{"op":"pub","id":${k},"topic":"ah.x","data":${sent}}`));
      for (let k = 0; k < DATA_SPELLINGS.length; k++) await tap.next();
      const live = `[${tap.frames.join(',')}]`;
      pub.send({ op: 'history', id: 'h', topic: 'ah.x' });
      const reply = await pub.next((f) => f.includes('"id":"h"'));
      expect(reply.slice(reply.indexOf('"messages":') + 11, -1)).toBe(live);
      expect(JSON.parse(reply)).toMatchObject({ op: 'ok', id: 'h', lastSeq: DATA_SPELLINGS.length, more: false });
      const http = await (await fetch(`${httpUrl}/api/history/ah.x`, { headers: { authorization: `Bearer ${KEY}` } })).text();
      expect(http.slice(http.indexOf('"messages":') + 11, -1)).toBe(live);
      expect(JSON.parse(http)).toMatchObject({ topic: 'ah.x', lastSeq: DATA_SPELLINGS.length, truncated: false, more: false });
    });
  });
});
