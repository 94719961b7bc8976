/**
 * The scenarios every documented proxy config must pass (test/deploy/nginx.test.ts,
 * test/deploy/haproxy.test.ts): three hub nodes as child processes on one real Redis, with
 * TRUSTED_PROXIES=127.0.0.1, behind a real nginx or HAProxy running the deploy/ file with only
 * its addresses replaced. Clients are real `ws` sockets and the real HubClient.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type WebSocketLike } from '../../client/hub-client.ts';
import { spawnHub, type HubProcess } from './hub-process.ts';
import { startProxy, type ProxyKind, type RunningProxy } from './proxies.ts';
import { TestRedis } from './redis-server.ts';
import { until, sleep } from './until.ts';
import { openSocket, type TestSocket } from './ws-client.ts';

export const KEY = 'deploy-publish-key';
const ADMIN = 'deploy-admin-key';
const PER_IP = 5;

export interface ProxyCluster {
  redis: TestRedis;
  nodes: HubProcess[];
  proxy: RunningProxy;
  /** The nodes' environment, to start one again as it was. */
  env: Record<string, string>;
  children: ChildProcess[];
  sockets: TestSocket[];
}

/**
 * Three nodes on one Redis behind `kind`; torn down by the caller's afterAll via `stopCluster`.
 * `overrides` replace the nodes' env (a value of '' drops the setting, so the node's default applies).
 */
export async function startCluster(kind: ProxyKind, overrides: Record<string, string> = {}): Promise<ProxyCluster> {
  const redis = await TestRedis.start();
  const children: ChildProcess[] = [];
  const env = {
    REDIS_URL: redis.url,
    TRUSTED_PROXIES: '127.0.0.1',
    MAX_CONNECTIONS_PER_IP: String(PER_IP),
    HUB_PUBLISH_KEY: KEY,
    API_KEYS: `${ADMIN}:admin`,
    HISTORY: 'deploy.>=100000/3600,>=1000/600',
    ...overrides,
  };
  try {
    const nodes = await Promise.all([0, 1, 2].map(() => spawnHub(env, children)));
    const proxy = await startProxy(kind, nodes.map((n) => n.port));
    return { redis, nodes, proxy, env, children, sockets: [] };
  } catch (err) {
    for (const child of children) child.kill('SIGKILL');
    await redis.stop();
    throw err;
  }
}

export async function stopCluster(c: ProxyCluster | undefined): Promise<void> {
  if (!c) return;
  for (const s of c.sockets) s.ws.terminate();
  await c.proxy.stop();
  for (const child of c.children) child.kill('SIGKILL');
  await c.redis.stop();
}

/** `{remote, mode}` of every connection on every node, as an admin sees them (asked directly). */
export async function connectionsByNode(c: ProxyCluster): Promise<Array<Array<{ remote: string; mode: string }>>> {
  return Promise.all(
    c.nodes.map(async (n) => {
      const res = await fetch(`http://127.0.0.1:${n.port}/api/connections`, { headers: { authorization: `Bearer ${ADMIN}` } });
      const body = (await res.json()) as { connections: Array<{ remote: string; mode: string }> };
      return body.connections;
    }),
  );
}

/** The status a refused upgrade got, or 101 if it opened (the socket then goes to `sockets`). */
async function upgradeStatus(c: ProxyCluster, url: string, options: WebSocket.ClientOptions = {}): Promise<number> {
  try {
    c.sockets.push(await openSocket(url, undefined, options));
    return 101;
  } catch (err) {
    const m = /upgrade refused: (\d+)/.exec(String(err));
    if (!m) throw err;
    return Number(m[1]);
  }
}

const closeAll = async (c: ProxyCluster) => {
  for (const s of c.sockets.splice(0)) s.ws.terminate();
  await until('every node to see its clients gone', async () => (await connectionsByNode(c)).every((list) => list.length === 0), 5000);
};

/** The scenarios, as one describe block per proxy. */
export function describeBehindProxy(kind: ProxyKind): void {
  describe(`${kind} in front of three nodes (deploy/${kind === 'nginx' ? 'nginx.conf' : 'haproxy.cfg'})`, () => {
    let c: ProxyCluster;
    beforeAll(async () => {
      c = await startCluster(kind);
    });
    afterAll(async () => {
      await stopCluster(c);
    });

    it("accepts a browser's upgrade from the proxy's own origin (Host keeps the port), refuses another origin", async () => {
      const origin = `http://127.0.0.1:${c.proxy.port}`;
      expect(await upgradeStatus(c, `${c.proxy.wsBase}/ws`, { origin })).toBe(101);
      expect(await upgradeStatus(c, `${c.proxy.wsBase}/ws`, { origin: 'http://evil.example' })).toBe(403);
      const health = await fetch(`${c.proxy.httpBase}/healthz`);
      expect(health.status).toBe(200);
      await closeAll(c);
    });

    it('line chat from a client through the proxy reaches a client on every node', async () => {
      const direct = await Promise.all(c.nodes.map((n) => openSocket(n.wsUrl)));
      c.sockets.push(...direct);
      for (const d of direct) await d.next((f) => f.startsWith('* welcome'));
      const via = await openSocket(`${c.proxy.wsBase}/ws`);
      c.sockets.push(via);
      await via.next((f) => f.startsWith('* welcome'));
      via.send(`/nick via${kind}`);
      await via.next((f) => f === `* you are now via${kind}`);
      via.send('hello through the proxy');
      for (const d of direct) expect(await d.next((f) => f.includes('hello through the proxy'))).toBe(`via${kind}: hello through the proxy`);
      await closeAll(c);
    });

    it('a spoofed X-Forwarded-For, Forwarded or X-Forwarded-Host from a client gives it no other address or host', async () => {
      const headers = { 'x-forwarded-for': '10.6.6.6', forwarded: 'for=10.7.7.7;host=evil.example', 'x-forwarded-host': 'evil.example' };
      const origin = `http://127.0.0.1:${c.proxy.port}`;
      for (let i = 0; i < 3; i++) {
        expect(await upgradeStatus(c, `${c.proxy.wsBase}/ws`, { headers, origin, localAddress: '127.0.0.20' })).toBe(101);
      }
      const all = (await connectionsByNode(c)).flat();
      expect(all.map((x) => x.remote)).toEqual(['127.0.0.20', '127.0.0.20', '127.0.0.20']);
      // The spoofed host did not become the hub's origin either.
      expect(await upgradeStatus(c, `${c.proxy.wsBase}/ws`, { headers, origin: 'http://evil.example', localAddress: '127.0.0.20' })).toBe(403);
      await closeAll(c);
    });

    it(`MAX_CONNECTIONS_PER_IP=${PER_IP} counts the forwarded client address, per node`, async () => {
      // Eight clients, eight addresses, all through the proxy (whose own address is 127.0.0.1).
      for (let i = 2; i <= 9; i++) expect(await upgradeStatus(c, `${c.proxy.wsBase}/ws`, { localAddress: `127.0.0.${i}` })).toBe(101);
      const seen = (await connectionsByNode(c)).flat().map((x) => x.remote).sort();
      expect(seen).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9']);
      await closeAll(c);
      // One address: the limit is per node, and least-connections spreads the clients evenly,
      // so three nodes admit 3 x PER_IP of them and refuse the next with 429.
      const statuses: number[] = [];
      for (let i = 0; i < 3 * PER_IP + 1; i++) statuses.push(await upgradeStatus(c, `${c.proxy.wsBase}/ws`, { localAddress: '127.0.0.10' }));
      expect(statuses).toEqual([...Array(3 * PER_IP).fill(101), 429]);
      const perNode = (await connectionsByNode(c)).map((list) => list.filter((x) => x.remote === '127.0.0.10').length);
      expect(perNode).toEqual([PER_IP, PER_IP, PER_IP]);
      await closeAll(c);
    });

    it('a HubClient through the proxy survives kill -9 of its node: back within 1 s, nothing missed or repeated', async () => {
      const ids = await Promise.all(c.nodes.map(async (n) => ((await (await fetch(`http://127.0.0.1:${n.port}/healthz`)).json()) as { node: string }).node));
      let nodeId = '';
      const opens: number[] = [];
      const client = new HubClient({
        url: `${c.proxy.wsBase}/ws`,
        minBackoffMs: 20,
        maxBackoffMs: 200,
        connect: (url, protocol) => new WebSocket(url, protocol) as unknown as WebSocketLike,
        onWelcome: (w) => (nodeId = w.node),
        onStatus: (s) => s === 'open' && opens.push(Date.now()),
      });
      const got: number[] = [];
      client.subscribe('deploy.k', (m) => got.push(m.seq));
      await until('the client to be subscribed', () => client.status === 'open' && nodeId !== '', 5000);
      await sleep(100);
      const victim = ids.indexOf(nodeId);
      expect(victim).toBeGreaterThanOrEqual(0);
      const survivor = c.nodes[(victim + 1) % 3];
      const N = 600;
      let killedAt = 0;
      for (let i = 1; i <= N; i++) {
        const res = await fetch(`http://127.0.0.1:${survivor.port}/api/publish/deploy.k`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ i }),
        });
        expect(res.status).toBe(200);
        if (i === 200) {
          c.nodes[victim].proc.kill('SIGKILL');
          killedAt = Date.now();
        }
        if (i % 10 === 0) await sleep(2);
      }
      await until('the client to get every message', () => got.at(-1) === N, 10_000);
      client.close();
      const reopened = opens.find((t) => t > killedAt);
      expect(reopened).toBeDefined();
      expect(reopened! - killedAt).toBeLessThan(1000);
      expect(nodeId).not.toBe(ids[victim]);
      expect(got).toEqual(Array.from({ length: N }, (_, k) => k + 1));
    });
  });
}
