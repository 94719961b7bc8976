/** The app's response headers: HSTS only when the client reached the hub over TLS. */
import { describe, expect, it } from 'vitest';
import type { RunningHub } from '../../../server/server.ts';
import { rawResponse } from '../../support/raw-http.ts';
import { perTestHubs } from '../../support/per-test-hubs.ts';

const { hub, cleanups } = perTestHubs();

/** The response headers of GET `path` (/healthz) with extra header lines, from `localAddress`. */
async function headersOf(running: RunningHub, extra = '', localAddress?: string, path = '/healthz'): Promise<string> {
  const response = await rawResponse(running.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`, { localAddress });
  return response.slice(0, response.indexOf('\r\n\r\n')).toLowerCase();
}

describe('createApp', () => {
  it('sends no strict-transport-security over plain HTTP, even with a spoofed X-Forwarded-Proto', async () => {
    const running = await hub({ trustedProxies: ['127.0.0.1'] });
    const plain = await headersOf(running);
    expect(plain).toContain('x-content-type-options: nosniff');
    expect(plain).not.toContain('strict-transport-security');
    expect(await headersOf(running, 'X-Forwarded-Proto: https\r\n', '127.0.0.2')).not.toContain('strict-transport-security');
    expect(await headersOf(running, 'X-Forwarded-Proto: http\r\n')).not.toContain('strict-transport-security');
  });

  it('sends it when a trusted proxy says https (X-Forwarded-Proto or Forwarded)', async () => {
    const running = await hub({ trustedProxies: ['127.0.0.1'] });
    expect(await headersOf(running, 'X-Forwarded-Proto: https\r\n')).toContain('strict-transport-security: max-age=15552000; includesubdomains');
    expect(await headersOf(running, 'Forwarded: for=192.0.2.1;proto=https\r\n')).toContain('strict-transport-security');
  });

  it('sends it on an SSE stream\'s head too, which the stream writes itself', async () => {
    const running = await hub({ trustedProxies: ['127.0.0.1'] });
    const tls = await headersOf(running, 'X-Forwarded-Proto: https\r\n', undefined, '/sse/app.t');
    expect(tls).toContain('content-type: text/event-stream');
    expect(tls).toContain('strict-transport-security: max-age=15552000; includesubdomains');
    const plain = await headersOf(running, '', undefined, '/sse/app.t');
    expect(plain).toContain('content-type: text/event-stream');
    expect(plain).not.toContain('strict-transport-security');
  });

  it('sends it when PUBLIC_URL is https', async () => {
    expect(await headersOf(await hub({ publicUrl: 'https://hub.example.com' }))).toContain('strict-transport-security');
    expect(await headersOf(await hub({ publicUrl: 'http://hub.example.com' }))).not.toContain('strict-transport-security');
  });
});
