/**
 * deploy/nginx.conf, the config docs/operations.md shows, run by a real nginx in front of three
 * real hub nodes on one Redis (test/support/behind-proxy.ts), plus the negative control: the
 * same file with `Host $host` (what the docs used to say) breaks the browser's own origin, and
 * 1600 clients from 16 addresses through nginx at the default MAX_CONNECTIONS_PER_IP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectionsByNode, describeBehindProxy, KEY, startCluster, stopCluster, type ProxyCluster } from '../support/behind-proxy.ts';
import { until } from '../support/until.ts';
import { startProxy, type RunningProxy } from '../support/proxies.ts';
import { openSocket } from '../support/ws-client.ts';
import { spawnHub } from '../support/hub-process.ts';
import type { ChildProcess } from 'node:child_process';

describeBehindProxy('nginx');

describe('nginx with proxy_set_header Host $host (the old docs)', () => {
  const children: ChildProcess[] = [];
  let proxy: RunningProxy | undefined;
  afterAll(async () => {
    await proxy?.stop();
    for (const c of children) c.kill('SIGKILL');
  });

  it("refuses a browser's upgrade from the proxy's own origin with 403: $host drops the port", async () => {
    const node = await spawnHub({ TRUSTED_PROXIES: '127.0.0.1' }, children);
    proxy = await startProxy('nginx', [node.port, node.port, node.port], (text) => {
      expect(text).toContain('proxy_set_header Host $http_host;');
      return text.replace('proxy_set_header Host $http_host;', 'proxy_set_header Host $host;');
    });
    const err = await openSocket(`${proxy.wsBase}/ws`, undefined, { origin: `http://127.0.0.1:${proxy.port}` }).then(
      (s) => (s.ws.terminate(), 'opened'),
      (e: unknown) => String(e),
    );
    expect(err).toContain('upgrade refused: 403');
  });
});

describe('nginx in front of three nodes: 1600 clients from 16 addresses, default MAX_CONNECTIONS_PER_IP (500)', () => {
  const ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`);
  const PER_ADDRESS = 100;
  const TOTAL = ADDRESSES.length * PER_ADDRESS;
  const CONCURRENCY = 100;
  let c: ProxyCluster | undefined;
  const sockets: WebSocket[] = [];
  beforeAll(async () => {
    // '' = the node's default (500).
    c = await startCluster('nginx', { MAX_CONNECTIONS_PER_IP: '' });
  });
  afterAll(async () => {
    for (const ws of sockets) ws.terminate();
    await stopCluster(c);
  });

  it('admits every one (the limit counts forwarded addresses, not the proxy\'s), each node sees only the 16, one publish reaches all 1600', { timeout: 90_000 }, async () => {
    const cluster = c!;
    const got = new Array<number>(TOTAL).fill(0);
    const statuses = new Map<number, number>();
    /** Open client `i` as a tap on deploy.fan; resolves with 101 or the refusal's status. */
    const open = (i: number) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${cluster.proxy.wsBase}/ws/deploy.fan`, { localAddress: ADDRESSES[i % ADDRESSES.length] });
        sockets.push(ws);
        ws.on('error', () => resolve(-1));
        ws.once('unexpected-response', (_req, res) => {
          res.resume();
          resolve(res.statusCode ?? -1);
          ws.terminate();
        });
        ws.once('open', () => resolve(101));
        ws.on('message', (data) => {
          if ((JSON.parse(String(data)) as { topic?: string }).topic === 'deploy.fan') got[i]++;
        });
      });
    const started = performance.now();
    let nextIndex = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (nextIndex < TOTAL) {
          const i = nextIndex++;
          const status = await open(i);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }),
    );
    const openMs = performance.now() - started;
    expect(Object.fromEntries(statuses)).toEqual({ 101: TOTAL });

    const lists = await connectionsByNode(cluster);
    expect(lists.reduce((n, list) => n + list.length, 0)).toBe(TOTAL);
    // Each node (asked directly, with the admin key) sees only the 16 client addresses, never the proxy's.
    for (const list of lists) expect([...new Set(list.map((x) => x.remote))].filter((r) => !ADDRESSES.includes(r))).toEqual([]);
    expect([...new Set(lists.flat().map((x) => x.remote))].sort()).toEqual([...ADDRESSES].sort());

    const res = await fetch(`http://127.0.0.1:${cluster.nodes[0].port}/api/publish/deploy.fan`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ once: true }),
    });
    expect(res.status).toBe(200);
    await until('all 1600 clients to get the message', () => got.every((n) => n >= 1), 15_000, 50);
    expect(got.every((n) => n === 1)).toBe(true);
    expect(openMs).toBeLessThan(60_000);

    for (const ws of sockets.splice(0)) ws.terminate();
    await until('every node to see its clients gone', async () => (await connectionsByNode(cluster)).every((list) => list.length === 0), 10_000, 100);
  });
});
