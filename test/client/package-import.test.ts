import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
// Imported by its package name, as a user's own program would.
import { APP_SUBPROTOCOL, HubClient, type HubMessage } from 'tickhub/client';
import { testConfig } from '../../server/config.ts';
import { startHub, type RunningHub } from '../../server/server.ts';

const KEY = 'package-import-key';
let running: RunningHub;
beforeAll(async () => {
  running = await startHub(testConfig({ publishKey: KEY }));
});
afterAll(() => running.close());

describe('tickhub/client', () => {
  it('is importable by name and talks to a real hub: subscribe, publish, receive', async () => {
    expect(APP_SUBPROTOCOL).toBe('hub.v1');
    const connect = (url: string, protocol: string) => new WebSocket(url, protocol) as never;
    const client = new HubClient({ url: running.wsUrl, token: KEY, connect });
    const got: HubMessage[] = [];
    client.subscribe('demo.*', (m) => got.push(m));
    const deadline = Date.now() + 5000;
    while (client.status !== 'open' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50)); // the sub's ok
    const { seq } = await client.publish('demo.x', { n: 1 });
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(seq).toBe(1);
    expect(got.map((m) => [m.topic, m.seq, m.data])).toEqual([['demo.x', 1, { n: 1 }]]);
    client.close();
  });
});
