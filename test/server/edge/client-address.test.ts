/**
 * The client address behind reverse proxies: the `Forwarded` parser on its own, then real hubs
 * whose per-address limits, socket bounds and `/api/connections` must see the client, not the
 * proxy, and only when the proxy is trusted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { nodeAddress, parseForwarded } from '../../../server/edge/client-address.ts';
import { testConfig, type HubConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { openSocket, openTap, type TestSocket } from '../../support/ws-client.ts';

const ADMIN = 'client-address-admin-key';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function hub(overrides: Partial<HubConfig> = {}): Promise<RunningHub> {
  const running = await startHub(testConfig({ apiKeys: [{ key: ADMIN, role: 'admin', publish: [], name: 'admin' }], ...overrides }));
  cleanups.push(() => running.close());
  return running;
}

/** A tap opened with `headers`, from `localAddress` (default 127.0.0.1). */
async function tap(running: RunningHub, headers: Record<string, string>, localAddress?: string): Promise<TestSocket> {
  const s = await openTap(`${running.wsUrl}/ticks.x`, { headers, localAddress });
  cleanups.push(() => s.ws.terminate());
  return s;
}

/** The `remote` of every open connection, as an admin sees it. */
async function remotes(running: RunningHub): Promise<string[]> {
  const res = await fetch(`${running.httpUrl}/api/connections`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const body = (await res.json()) as { connections: Array<{ remote: string }> };
  return body.connections.map((c) => c.remote).sort();
}

describe('parseForwarded', () => {
  it('reads several hops, in order, with their parameters', () => {
    expect(parseForwarded('for=192.0.2.60;proto=http;by=203.0.113.43, for=198.51.100.17')).toEqual([
      { for: '192.0.2.60', proto: 'http', by: '203.0.113.43' },
      { for: '198.51.100.17' },
    ]);
  });

  it('reads quoted values with separators and escapes inside, and lower-cases names', () => {
    expect(parseForwarded('For="[2001:db8:cafe::17]:4711";Host="hub.example.com:8443";x="a,b;c=\\"d\\""')).toEqual([
      { for: '[2001:db8:cafe::17]:4711', host: 'hub.example.com:8443', x: 'a,b;c="d"' },
    ]);
  });

  it('tolerates spaces around separators; an empty element makes the header malformed', () => {
    expect(parseForwarded('for=1.2.3.4 ;proto=https, for=5.6.7.8')).toEqual([{ for: '1.2.3.4', proto: 'https' }, { for: '5.6.7.8' }]);
    expect(parseForwarded('for=1.2.3.4,,')).toBeNull();
  });

  it('refuses malformed values as a whole', () => {
    for (const bad of ['for', 'for="1.2.3.4', 'for=1.2.3.4 proto=https', 'for=1.2.3.4;=x', 'for="a\\', '"for"=1.2.3.4']) {
      expect(parseForwarded(bad), bad).toBeNull();
    }
  });
});

describe('nodeAddress', () => {
  it('takes IPv4 and IPv6 nodes with or without a port', () => {
    expect(nodeAddress('192.0.2.60')).toBe('192.0.2.60');
    expect(nodeAddress('192.0.2.60:8080')).toBe('192.0.2.60');
    expect(nodeAddress('[2001:db8:cafe::17]')).toBe('2001:db8:cafe::17');
    expect(nodeAddress('[2001:db8:cafe::17]:4711')).toBe('2001:db8:cafe::17');
    expect(nodeAddress('2001:db8:cafe::17')).toBe('2001:db8:cafe::17');
    expect(nodeAddress('[::ffff:192.0.2.1]:80')).toBe('::ffff:192.0.2.1');
  });

  it('gives null for obfuscated, unknown and junk nodes', () => {
    for (const node of ['unknown', '_hidden', '_SEVKISEK', '', '[192.0.2.1]', '999.1.1.1', '[2001:db8::1', 'evil.example', '1.2.3.4:80:80']) {
      expect(nodeAddress(node), node).toBeNull();
    }
  });
});

describe('client address', () => {
  it('ignores X-Forwarded-For and Forwarded from an untrusted peer: the socket address is limited', async () => {
    const running = await hub({ maxConnectionsPerIp: 2 });
    await tap(running, { 'x-forwarded-for': '198.51.100.1' });
    await tap(running, { forwarded: 'for=198.51.100.2' });
    await expect(tap(running, { 'x-forwarded-for': '198.51.100.3' })).rejects.toThrow('upgrade refused: 429');
    expect(await remotes(running)).toEqual(['127.0.0.1', '127.0.0.1']);
  });

  it('behind a trusted proxy, limits each forwarded client by its own address', async () => {
    const running = await hub({ trustedProxies: ['127.0.0.1'], maxConnectionsPerIp: 2 });
    for (const client of ['198.51.100.1', '198.51.100.2']) {
      await tap(running, { 'x-forwarded-for': client });
      await tap(running, { 'x-forwarded-for': client });
    }
    await expect(tap(running, { 'x-forwarded-for': '198.51.100.1' })).rejects.toThrow('upgrade refused: 429');
    await tap(running, { forwarded: 'for="[2001:db8::7]:4711"' });
    await tap(running, { 'x-forwarded-for': '198.51.100.3' });
    expect(await remotes(running)).toEqual(['198.51.100.1', '198.51.100.1', '198.51.100.2', '198.51.100.2', '198.51.100.3', '2001:db8::7']);
  });

  it("does not cap a trusted proxy's own sockets at MAX_SOCKETS_PER_IP; other peers still are", async () => {
    const running = await hub({ trustedProxies: ['127.0.0.1'], maxSocketsPerIp: 3 });
    for (let i = 0; i < 12; i++) await tap(running, { 'x-forwarded-for': `198.51.100.${i}` });
    for (let i = 0; i < 3; i++) await tap(running, {}, '127.0.0.2');
    await expect(tap(running, {}, '127.0.0.2')).rejects.toThrow(/429/);
    expect((await remotes(running)).length).toBe(15);
  });

  it('walks a chain only through trusted hops', async () => {
    const lastHopOnly = await hub({ trustedProxies: ['127.0.0.1'] });
    await tap(lastHopOnly, { 'x-forwarded-for': '203.0.113.9, 10.0.0.5' });
    await tap(lastHopOnly, { forwarded: 'for=203.0.113.9, for=10.0.0.5' });
    expect(await remotes(lastHopOnly)).toEqual(['10.0.0.5', '10.0.0.5']);

    const bothHops = await hub({ trustedProxies: ['loopback', '10.0.0.0/8'] });
    await tap(bothHops, { 'x-forwarded-for': '192.0.2.66, 203.0.113.9, 10.0.0.5' });
    await tap(bothHops, { forwarded: 'for=192.0.2.66, for="203.0.113.9:1234", for=10.0.0.5' });
    expect(await remotes(bothHops)).toEqual(['203.0.113.9', '203.0.113.9']);
  });

  it('stops at an obfuscated hop: the trusted proxy that wrote it is the address; Forwarded wins over X-Forwarded-For', async () => {
    const running = await hub({ trustedProxies: ['127.0.0.1', '10.0.0.0/8'] });
    await tap(running, { forwarded: 'for=unknown' });
    await tap(running, { forwarded: 'for=192.0.2.1, for=_hidden, for=10.0.0.5' });
    await tap(running, { forwarded: 'proto=https', 'x-forwarded-for': '192.0.2.2' });
    await tap(running, { forwarded: 'for=192.0.2.3', 'x-forwarded-for': '192.0.2.4' });
    expect(await remotes(running)).toEqual(['10.0.0.5', '127.0.0.1', '127.0.0.1', '192.0.2.3']);
  });
});
