import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { openSocket, openTap, sleep, upgradeStatus, type TapSocket, type TestSocket } from '../../support/ws-client.ts';

const KEY = 'integration-key';
let hub: RunningHub;
const sockets: TestSocket[] = [];

/** Line mode (''), app mode (protocol) or a tap ('/<patterns>', its welcome awaited and kept apart). */
async function open(path = '', protocol?: string): Promise<TestSocket> {
  const s = !protocol && path.startsWith('/') ? await openTap(`${hub.wsUrl}${path}`) : await openSocket(`${hub.wsUrl}${path}`, protocol);
  sockets.push(s);
  return s;
}
const app = (query = '') => open(query, 'hub.v1');
const isMsg = (topic: string) => (f: Record<string, unknown>) => f.topic === topic && !('op' in f);

async function httpPublish(topic: string, data: unknown, key: string | null = KEY) {
  const res = await fetch(`${hub.httpUrl}/api/publish/${topic}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: typeof data === 'string' ? data : JSON.stringify(data),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

beforeAll(async () => {
  hub = await startHub(testConfig({ publishKey: KEY, maxPayload: 4096 }));
});
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await hub.close();
});

describe('line mode', () => {
  it('relays a chat line to other chat clients as `nick: text`, not to the sender', async () => {
    const a = await open();
    const b = await open();
    await a.next((f) => f.startsWith('* welcome'));
    await b.next((f) => f.startsWith('* welcome'));
    a.send('/nick alice');
    await a.next((f) => f === '* you are now alice');
    a.send('hello there');
    expect(await b.next((f) => f.includes('hello there'))).toBe('alice: hello there');
    b.send('ping back');
    await a.next((f) => f.includes('ping back'));
    expect(a.frames.filter((f) => f.includes('hello there'))).toEqual([]);
  });

  it('answers /who, /help, /topics and rejects unknown commands with a ! line', async () => {
    const c = await open();
    await c.next((f) => f.startsWith('* welcome'));
    c.send('/nick carol');
    await c.next((f) => f === '* you are now carol');
    c.send('/who');
    expect(await c.next((f) => f.startsWith('* in chat:'))).toContain('carol');
    c.send('/help');
    expect(await c.next((f) => f.startsWith('* commands:'))).toContain('/sub PATTERN');
    await httpPublish('misc.topic', { n: 1 });
    c.send('/topics');
    expect(await c.next((f) => f.startsWith('* topics:'))).toMatch(/misc\.topic\s+subscribers=0 messages=1/);
    c.send('/frobnicate');
    expect(await c.next((f) => f.startsWith('!'))).toContain("unknown command '/frobnicate'");
    c.send('/nick bad nick!');
    expect(await c.next((f) => f.startsWith('!'))).toContain('nick must be');
  });

  it('refuses a nick that is taken', async () => {
    const d = await open();
    const e = await open();
    d.send('/nick dave');
    await d.next((f) => f === '* you are now dave');
    e.send('/nick dave');
    expect(await e.next((f) => f.startsWith('!'))).toBe("! nick 'dave' is taken");
  });

  it('/sub streams topic messages as JSON lines and /unsub stops them', async () => {
    const s = await open();
    s.send('/sub prices.*');
    await s.next((f) => f === '* subscribed to prices.*');
    await httpPublish('prices.AAPL', { p: 1 });
    const line = JSON.parse(await s.next((f) => f.startsWith('{')));
    expect(line).toMatchObject({ topic: 'prices.AAPL', seq: 1, data: { p: 1 } });
    expect(typeof line.ts).toBe('number');
    s.send('/unsub prices.*');
    await s.next((f) => f === '* unsubscribed from prices.*');
    await httpPublish('prices.AAPL', { p: 2 });
    s.send('/who');
    await s.next((f) => f.startsWith('* in chat:'));
    expect(s.frames.some((f) => f.includes('"p":2'))).toBe(false);
  });

  it('shares one room with app clients on topic chat', async () => {
    const line = await open();
    line.send('/nick erin');
    await line.next((f) => f === '* you are now erin');
    const prog = await app();
    prog.send({ op: 'sub', id: 1, topic: 'chat' });
    await prog.nextJson((f) => f.op === 'ok' && f.id === 1);
    line.send('from the terminal');
    const msg = await prog.nextJson<any>((f) => isMsg('chat')(f) && (f.data as any).text === 'from the terminal');
    expect(msg.data).toEqual({ nick: 'erin', text: 'from the terminal' });
    prog.send({ op: 'pub', id: 2, topic: 'chat', data: { nick: 'console', text: 'from the dashboard' } });
    expect(await line.next((f) => f.includes('from the dashboard'))).toBe('console: from the dashboard');
  });
});

describe('taps', () => {
  it('send a welcome first: epoch, node and the hub time the subscriptions took effect', async () => {
    const before = Date.now();
    const tap = (await open('/wel.*')) as TapSocket;
    expect(tap.welcome).toMatchObject({ op: 'welcome', v: 1, epoch: hub.hub.epoch, node: hub.hub.nodeId });
    expect(tap.welcome.ts).toBeGreaterThanOrEqual(before - 5);
    expect(tap.welcome.ts).toBeLessThanOrEqual(Date.now());
    await httpPublish('wel.a', { n: 1 });
    expect(await tap.nextJson()).toMatchObject({ topic: 'wel.a', seq: 1 });
    expect((await hub.hub.history('wel.a', {})).messages[0].ts).toBeGreaterThanOrEqual(tap.welcome.ts!);
  });

  it('stream one JSON message per frame for several wildcard patterns', async () => {
    const tap = await open('/taps.*.x,other.>');
    await sleep(50);
    await httpPublish('taps.a.x', { n: 1 });
    await httpPublish('taps.a.y', { n: 2 }); // no match
    await httpPublish('other.deep.topic', { n: 3 });
    const first = JSON.parse(await tap.next());
    const second = JSON.parse(await tap.next());
    expect([first.topic, second.topic]).toEqual(['taps.a.x', 'other.deep.topic']);
  });

  it('refuse a bad pattern with HTTP 400 before any WebSocket exists', async () => {
    expect(await upgradeStatus(`${hub.wsUrl}/ticks..x`)).toBe(400);
    expect(await upgradeStatus(`${hub.wsUrl}/a.>.b`)).toBe(400);
  });

  it('are read-only: a sent frame gets an error and the tap keeps streaming', async () => {
    const tap = await open('/ro.test');
    tap.send('hello?');
    expect(await tap.nextJson()).toMatchObject({ op: 'error', code: 'forbidden' });
    await httpPublish('ro.test', { ok: true });
    expect(await tap.nextJson()).toMatchObject({ topic: 'ro.test', data: { ok: true } });
  });

  it('deliver a message once even when two patterns match it', async () => {
    const tap = await open('/dup.*,dup.>');
    await sleep(50);
    await httpPublish('dup.one', 1);
    await httpPublish('dup.two', 2);
    await tap.next((f) => f.includes('dup.two'));
    expect(tap.frames.filter((f) => f.includes('dup.one'))).toHaveLength(1);
  });
});

describe('app mode', () => {
  it('greets, and answers sub, pub, unsub and ping with their ids', async () => {
    const pub = await app(`?token=${KEY}`);
    const sub = await app();
    expect(await sub.nextJson()).toMatchObject({ op: 'welcome', v: 1, role: 'operator' });
    sub.send({ op: 'sub', id: 'a', topic: 'orders.*' });
    expect(await sub.nextJson((f) => f.id === 'a')).toMatchObject({ op: 'ok', id: 'a' });
    pub.send({ op: 'pub', id: 7, topic: 'orders.eu', data: { qty: 3 } });
    const ok = await pub.nextJson<any>((f) => f.id === 7);
    expect(ok).toMatchObject({ op: 'ok', id: 7, seq: 1 });
    expect(await sub.nextJson(isMsg('orders.eu'))).toMatchObject({ topic: 'orders.eu', seq: 1, data: { qty: 3 } });
    sub.send({ op: 'unsub', id: 'b', topic: 'orders.*' });
    expect(await sub.nextJson((f) => f.id === 'b')).toMatchObject({ op: 'ok' });
    sub.send({ op: 'unsub', id: 'c', topic: 'orders.*' });
    expect(await sub.nextJson((f) => f.id === 'c')).toMatchObject({ op: 'error', code: 'not_subscribed' });
    sub.send({ op: 'ping', id: 'd' });
    expect(await sub.nextJson((f) => f.id === 'd')).toMatchObject({ op: 'ok', id: 'd' });
  });

  it('refuses publishing without the key, then allows it after auth', async () => {
    const c = await app();
    c.send({ op: 'pub', id: 1, topic: 'orders.us', data: 1 });
    expect(await c.nextJson((f) => f.id === 1)).toMatchObject({ op: 'error', code: 'forbidden' });
    c.send({ op: 'auth', id: 2, token: 'wrong-key' });
    expect(await c.nextJson((f) => f.id === 2)).toMatchObject({ op: 'error', code: 'unauthorized' });
    c.send({ op: 'auth', id: 3, token: KEY });
    expect(await c.nextJson((f) => f.id === 3)).toMatchObject({ op: 'ok', role: 'publisher' });
    c.send({ op: 'pub', id: 4, topic: 'orders.us', data: 1 });
    expect(await c.nextJson((f) => f.id === 4)).toMatchObject({ op: 'ok' });
    c.send({ op: 'pub', id: 5, topic: '$sys.stats', data: 1 });
    expect(await c.nextJson((f) => f.id === 5)).toMatchObject({ op: 'error', code: 'forbidden' });
  });

  it('answers every bad request with an error naming the problem, and stays usable', async () => {
    const c = await app();
    await c.nextJson((f) => f.op === 'welcome');
    c.send('{not json');
    expect(await c.nextJson()).toMatchObject({ op: 'error', code: 'bad_json' });
    c.send('[1,2]');
    expect(await c.nextJson()).toMatchObject({ op: 'error', code: 'bad_request' });
    c.send({ op: 'sub', topic: 'x' });
    expect((await c.nextJson<any>()).message).toContain("'id'");
    c.send({ op: 'explode', id: 1 });
    expect(await c.nextJson()).toMatchObject({ op: 'error', id: 1, code: 'unknown_op' });
    c.send({ op: 'sub', id: 2, topic: 'bad topic' });
    expect(await c.nextJson()).toMatchObject({ op: 'error', id: 2, code: 'bad_topic' });
    c.send({ op: 'sub', id: 3, topic: 'a.>.b' });
    expect(await c.nextJson()).toMatchObject({ op: 'error', id: 3, code: 'bad_topic' });
    c.send({ op: 'pub', id: 4, topic: 'chat', data: { text: '' } });
    expect(await c.nextJson()).toMatchObject({ op: 'error', id: 4, code: 'bad_request' });
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await c.nextJson()).toMatchObject({ op: 'error', code: 'binary_unsupported' });
    c.send({ op: 'ping', id: 5 });
    expect(await c.nextJson()).toMatchObject({ op: 'ok', id: 5 });
  });

  it('closes 1009 on a frame larger than MAX_PAYLOAD, and the hub serves others', async () => {
    const c = await app();
    c.send({ op: 'ping', id: 1, pad: 'x'.repeat(5000) });
    expect((await c.closed).code).toBe(1009);
    const d = await app();
    d.send({ op: 'ping', id: 2 });
    expect(await d.nextJson((f) => f.id === 2)).toMatchObject({ op: 'ok' });
  });

  it('closes 1007 on invalid UTF-8', async () => {
    const c = await open();
    c.ws.send(Buffer.from([0x68, 0xff, 0xfe, 0x69]), { binary: false });
    expect((await c.closed).code).toBe(1007);
  });

  it('refuses an upgrade with a wrong token with 401', async () => {
    expect(await upgradeStatus(`${hub.wsUrl}?token=nope`, 'hub.v1')).toBe(401);
    expect(await upgradeStatus(`${hub.wsUrl}?token=${KEY}`, 'hub.v1')).toBe(101);
  });
});

describe('HTTP API', () => {
  it('publishes with the key and answers the seq', async () => {
    const first = await httpPublish('http.topic', { a: 1 });
    const second = await httpPublish('http.topic', { a: 2 });
    expect(first).toMatchObject({ status: 200, body: { topic: 'http.topic', seq: 1 } });
    expect(second.body.seq).toBe(2);
  });

  it('refuses a missing or wrong key, bad JSON, bad topics and oversize bodies', async () => {
    expect((await httpPublish('http.topic', { a: 1 }, null)).status).toBe(401);
    expect((await httpPublish('http.topic', { a: 1 }, 'wrong')).status).toBe(401);
    expect((await httpPublish('http.topic', '{oops')).body.error.code).toBe('bad_json');
    expect((await httpPublish('bad..topic', {})).status).toBe(400);
    expect((await httpPublish('http.topic', { pad: 'x'.repeat(5000) })).status).toBe(413);
  });

  it('lists topics with subscriber counts and rates, and serves history and health', async () => {
    const tap = await open('/listed.topic');
    await sleep(20);
    await httpPublish('listed.topic', { v: 1 });
    await tap.next();
    const topics = (await (await fetch(`${hub.httpUrl}/api/topics`)).json()) as { topics: any[] };
    expect(topics.topics.find((t) => t.topic === 'listed.topic')).toMatchObject({ subscribers: 1, messages: 1 });
    const history = (await (await fetch(`${hub.httpUrl}/api/history/listed.topic`)).json()) as any;
    expect(history.messages).toEqual([expect.objectContaining({ topic: 'listed.topic', seq: 1, data: { v: 1 } })]);
    const health = (await (await fetch(`${hub.httpUrl}/healthz`)).json()) as any;
    expect(health).toMatchObject({ status: 'ok' });
  });
});

describe('shutdown', () => {
  it('closes clients with 1001 and releases the port', async () => {
    const other = await startHub(testConfig({ publishKey: KEY }));
    const c = await openSocket(other.wsUrl, 'hub.v1');
    const tap = await openTap(`${other.wsUrl}/x.y`);
    const started = Date.now();
    await other.close();
    expect((await c.closed).code).toBe(1001);
    expect((await tap.closed).code).toBe(1001);
    expect(Date.now() - started).toBeLessThan(3000);
    await expect(fetch(`${other.httpUrl}/healthz`)).rejects.toThrow();
  });
});
