/**
 * Server-Sent Events through the documented proxy configs (deploy/nginx.conf, deploy/haproxy.cfg,
 * run as they are by a real nginx and HAProxy in front of three hub nodes on one Redis): events
 * pass at once (no buffering), heartbeat comments come through, and a wildcard stream resumed with
 * Last-Event-ID through the same proxy after kill -9 of its node loses and repeats nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionsByNode, KEY, startCluster, stopCluster, type ProxyCluster } from '../support/behind-proxy.ts';
import type { ProxyKind } from '../support/proxies.ts';
import { openSse } from '../support/sse-client.ts';
import { resumeAcrossKill } from '../support/sse-resume.ts';
import { until } from '../support/until.ts';

for (const kind of ['nginx', 'haproxy'] as ProxyKind[]) {
  describe(`SSE through ${kind} (deploy/${kind === 'nginx' ? 'nginx.conf' : 'haproxy.cfg'})`, () => {
    let c: ProxyCluster;
    beforeAll(async () => {
      c = await startCluster(kind, { HEARTBEAT_MS: '1000' });
    }, 120_000);
    afterAll(async () => {
      await stopCluster(c);
    });

    const publishTo = (port: number) => async (topic: string, data: unknown) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/publish/${topic}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(data) });
      expect(res.status).toBe(200);
      return ((await res.json()) as { seq: number }).seq;
    };

    it('passes each event on at once, with the heartbeat comment of an idle stream', async () => {
      const stream = await openSse(`${c.proxy.httpBase}/sse/px.live`);
      try {
        expect(stream.status).toBe(200);
        expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
        await stream.next((e) => e.event === 'welcome'); // a buffering proxy would hold these back
        await publishTo(c.nodes[0].port)('px.live', { n: 1 });
        expect(JSON.parse((await stream.next((e) => e.event === 'message', 2000)).data)).toMatchObject({ topic: 'px.live', data: { n: 1 } });
        await until('a heartbeat comment through the proxy', () => stream.comments.includes('hb'), 3000);
      } finally {
        stream.close();
      }
    });

    it('a wildcard stream resumes through the proxy with Last-Event-ID after kill -9 of its node: nothing lost, nothing twice', { timeout: 60_000 }, async () => {
      let survivor = 0;
      const result = await resumeAcrossKill({
        firstBase: c.proxy.httpBase,
        resumeBase: c.proxy.httpBase,
        prefix: `deploy.sse${kind}`,
        publish: (topic, data) => publishTo(c.nodes[survivor].port)(topic, data),
        async kill() {
          const lists = await connectionsByNode(c);
          const victim = lists.findIndex((list) => list.some((conn) => conn.mode === 'sse'));
          expect(victim).toBeGreaterThanOrEqual(0);
          survivor = (victim + 1) % c.nodes.length;
          c.nodes[victim].proc.kill('SIGKILL');
        },
      });
      expect(result.reconnectMs).toBeLessThan(5000);
    });
  });
}
