/**
 * The hub's own origin behind a TLS-terminating proxy: PUBLIC_URL, or the scheme and host a
 * trusted proxy forwards, and never those headers from anyone else. Real hubs, raw upgrades.
 */
import { describe, expect, it } from 'vitest';
import type { RunningHub } from '../../../server/server.ts';
import { parseResponse, rawResponse, upgradeRequest } from '../../support/raw-http.ts';
import { perTestHubs } from '../../support/per-test-hubs.ts';

const KEY = 'origin-test-publish-key';
const { hub, cleanups } = perTestHubs({ publishKey: KEY });

/** Status and error message of an upgrade to /ws with `headers`, sent from `localAddress`. */
async function upgrade(running: RunningHub, host: string, headers: Record<string, string>, localAddress?: string) {
  const { status, body } = parseResponse(await rawResponse(running.port, upgradeRequest('/ws', host, headers), { localAddress }));
  return { status, message: status === 101 ? '' : (JSON.parse(body) as { error: { message: string } }).error.message };
}

/** The handshake succeeded. */
const OPENED = 101;

describe('public origin', () => {
  it('PUBLIC_URL names the origin outright and its host is served without ALLOWED_HOSTS', async () => {
    const running = await hub({ publicUrl: 'https://hub.example.com:8443' });
    expect((await upgrade(running, 'hub.example.com:8443', { Origin: 'https://hub.example.com:8443' })).status).toBe(OPENED);
    const evil = await upgrade(running, 'hub.example.com:8443', { Origin: 'https://evil.example' });
    expect(evil.status).toBe(403);
    expect(evil.message).toMatch(/origin https:\/\/evil\.example is not allowed: the hub's own origin here is https:\/\/hub\.example\.com:8443/);
    for (const setting of ['PUBLIC_URL', 'TRUSTED_PROXIES', 'ALLOWED_ORIGINS']) expect(evil.message).toContain(setting);
    expect((await upgrade(running, 'other.example', {})).status).toBe(403);
  });

  it('from a trusted proxy, X-Forwarded-Proto and X-Forwarded-Host make the forwarded origin the own one', async () => {
    const running = await hub({ trustedProxies: ['127.0.0.1'], allowedHosts: ['hub.example.com'] });
    const forwarded = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'hub.example.com', 'X-Forwarded-For': '198.51.100.7' };
    expect((await upgrade(running, `127.0.0.1:${running.port}`, { ...forwarded, Origin: 'https://hub.example.com' })).status).toBe(OPENED);
    expect((await upgrade(running, `127.0.0.1:${running.port}`, { ...forwarded, Origin: 'https://hub.example.com:443' })).status).toBe(OPENED);
    expect((await upgrade(running, `127.0.0.1:${running.port}`, { ...forwarded, Origin: 'http://hub.example.com' })).status).toBe(403);
    // The proxy keeps Host and only says the scheme: https on any port.
    expect((await upgrade(running, 'hub.example.com:8443', { 'X-Forwarded-Proto': 'https', Origin: 'https://hub.example.com:8443' })).status).toBe(OPENED);
  });

  it('from a trusted proxy, Forwarded proto= and host= do the same', async () => {
    const running = await hub({ trustedProxies: ['127.0.0.1'], allowedHosts: ['hub.example.com'] });
    const headers = { Forwarded: 'for=198.51.100.7;proto=https;host="hub.example.com:8443"', Origin: 'https://hub.example.com:8443' };
    expect((await upgrade(running, `127.0.0.1:${running.port}`, headers)).status).toBe(OPENED);
  });

  it('ignores X-Forwarded-Proto, X-Forwarded-Host and Forwarded from an untrusted peer', async () => {
    const running = await hub({ trustedProxies: ['127.0.0.1'], allowedHosts: ['hub.example.com'] });
    const host = `127.0.0.1:${running.port}`;
    const spoofs: Array<Record<string, string>> = [
      { 'X-Forwarded-Proto': 'https', Origin: `https://${host}` },
      { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'hub.example.com', Origin: 'https://hub.example.com' },
      { Forwarded: 'proto=https;host=hub.example.com', Origin: 'https://hub.example.com' },
    ];
    for (const headers of spoofs) expect((await upgrade(running, host, headers, '127.0.0.2')).status).toBe(403);
    expect((await upgrade(running, host, { Origin: `http://${host}` }, '127.0.0.2')).status).toBe(OPENED);
  });

  it('judges the Host a trusted proxy forwarded: a foreign name through the proxy is still DNS rebinding', async () => {
    const running = await hub({ trustedProxies: ['127.0.0.1'], allowedHosts: ['hub.example.com'] });
    const refused = await upgrade(running, 'hubs:5000', { 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https', Origin: 'https://evil.example' });
    expect(refused).toEqual({ status: 403, message: 'host evil.example is not served here (ALLOWED_HOSTS or PUBLIC_URL)' });
    expect((await upgrade(running, 'hubs:5000', { 'X-Forwarded-Host': 'hub.example.com' })).status).toBe(OPENED);
  });

  it('applies the same own origin to HTTP publishing', async () => {
    const running = await hub({ trustedProxies: ['127.0.0.1'], allowedHosts: ['hub.example.com'] });
    const post = (headers: Record<string, string>) =>
      fetch(`${running.httpUrl}/api/publish/orders.eu`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers }, body: '{}' });
    expect((await post({ origin: 'https://hub.example.com', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'hub.example.com' })).status).toBe(200);
    const refused = await post({ origin: 'https://evil.example', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'hub.example.com' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('PUBLIC_URL');
  });
});
