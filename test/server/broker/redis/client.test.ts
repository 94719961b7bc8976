/** The Redis plumbing on a private redis-server: script runner, NOSCRIPT fallback, error mapping. */
import { ErrorReply } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BrokerUnavailableError } from '../../../../server/broker/broker.ts';
import { RedisClient } from '../../../../server/broker/redis/client.ts';
import { EPOCH, type Script } from '../../../../server/broker/redis/scripts.ts';
import { decodeLive } from '../../../../server/broker/redis/subscriptions.ts';
import { TestRedis } from '../../../support/redis-server.ts';

let redis: TestRedis;
beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(async () => {
  await redis?.stop();
});

const open: RedisClient[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});
async function client(): Promise<RedisClient> {
  const c = new RedisClient({ url: redis.url, prefix: 'cl:', nodeId: 'n1' }, { error: () => {}, reconnected: () => {} });
  open.push(c);
  await c.connect(5000);
  return c;
}

describe('RedisClient', () => {
  it('#key prefixes every key', async () => {
    const c = await client();
    expect(c.key('seq')).toBe('cl:seq');
  });

  it('#script runs a script Redis does not have cached (EVAL after NOSCRIPT), then by SHA', async () => {
    const c = await client();
    await redis.command('SCRIPT', 'FLUSH');
    expect(await redis.command('SCRIPT', 'EXISTS', EPOCH.sha)).toContain(':0');
    expect(await c.script(EPOCH, [c.key('epoch')], ['e1', 'ensure', ''])).toBe('e1');
    expect(await redis.command('SCRIPT', 'EXISTS', EPOCH.sha)).toContain(':1');
    expect(await c.script(EPOCH, [c.key('epoch')], ['e2', 'ensure', ''])).toBe('e1');
  });

  it('epoch.lua rotates only the epoch it was told of, and drops that epoch\'s position counter', async () => {
    const c = await client();
    const keys = (old: string) => [c.key('rot:epoch'), c.key(`rot:pos:${old}`)];
    expect(await c.script(EPOCH, keys(''), ['r1', 'ensure', ''])).toBe('r1');
    await c.cmd.set(c.key('rot:pos:r1'), '42');
    expect(await c.script(EPOCH, keys('stale'), ['r2', 'rotate', 'stale'])).toBe('r1'); // another node rotated first: no change
    expect(await c.cmd.get(c.key('rot:pos:r1'))).toBe('42');
    expect(await c.script(EPOCH, keys('r1'), ['r3', 'rotate', 'r1'])).toBe('r3');
    expect(await c.cmd.exists(c.key('rot:pos:r1'))).toBe(0);
  });

  it('#script passes a script error through as the ErrorReply it is', async () => {
    const c = await client();
    const failing: Script = { name: 'failing', source: "return redis.error_reply('ERR nope')", sha: '0'.repeat(40) };
    await expect(c.script(failing, [], [])).rejects.toBeInstanceOf(ErrorReply);
  });

  it('#call does not hold the hub\'s own busy event loop against Redis: a reply waiting unread still resolves', async () => {
    const c = new RedisClient({ url: redis.url, prefix: 'cl:', nodeId: 'n1', commandTimeoutMs: 200 }, { error: () => {}, reconnected: () => {} });
    open.push(c);
    await c.connect(5000);
    await c.call(() => c.cmd.ping()); // the watchdog is running
    const reply = c.call(() => c.cmd.ping());
    const until = performance.now() + 600;
    while (performance.now() < until); // the hub busy with a storm of handshakes, 3x the timeout
    await expect(reply).resolves.toBe('PONG');
    await expect(c.call(() => c.cmd.ping())).resolves.toBe('PONG'); // and not left stalled
  });

  it('#call rejects with BrokerUnavailableError once closed', async () => {
    const c = await client();
    await c.close();
    expect(c.closed).toBe(true);
    await expect(c.call(() => c.cmd.ping())).rejects.toBeInstanceOf(BrokerUnavailableError);
    await expect(c.script(EPOCH, [c.key('epoch')], ['x', 'ensure', ''])).rejects.toThrow(/closed/);
  });

  it('#connect gives up with BrokerUnavailableError naming the address without its password', async () => {
    const c = new RedisClient({ url: 'redis://user:secret@127.0.0.1:1', prefix: 'cl:', nodeId: 'n1' }, { error: () => {}, reconnected: () => {} });
    try {
      const err = await c.connect(300).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BrokerUnavailableError);
      expect(String(err)).toContain('redis://***@127.0.0.1:1');
      expect(String(err)).not.toContain('secret');
    } finally {
      c.destroy();
    }
  });
});

describe('decodeLive', () => {
  it('splits `<epoch> <seq> <ts> <pos> <origin> <json>` and keeps the origin only for its own node', () => {
    const json = '{"topic":"a.b","seq":7,"ts":1000,"data":"x y z"}';
    expect(decodeLive('th:m:a.b', `E1 7 1000 42 n1/c9 ${json}`, 'th:', 'n1')).toEqual({ epoch: 'E1', env: { topic: 'a.b', seq: 7, ts: 1000, pos: 42, json, origin: 'c9' } });
    expect(decodeLive('th:m:a.b', `E1 7 1000 42 n2/c9 ${json}`, 'th:', 'n1').env.origin).toBeUndefined();
    expect(decodeLive('th:m:a.b', `E1 7 1000 42 - ${json}`, 'th:', 'n1').env.origin).toBeUndefined();
  });
});
