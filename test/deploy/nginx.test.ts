/**
 * deploy/nginx.conf, the config docs/operations.md shows, run by a real nginx in front of three
 * real hub nodes on one Redis (test/support/behind-proxy.ts), plus the negative control: the
 * same file with `Host $host` (what the docs used to say) breaks the browser's own origin.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { describeBehindProxy } from '../support/behind-proxy.ts';
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
