/**
 * What an open WebSocket costs the hub stays per connection data, not code: every socket's
 * listeners are the same shared functions (they find their connection through the socket), one
 * per event, and nothing of node-server's upgrade helper is left on it. Idle memory depends on it
 * (bench/idle-heap.ts); a closure per socket would not fail any behaviour test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import type { WebSocket as ServerSocket } from 'ws';
import { testConfig } from '../../../server/config.ts';
import { WsTransport } from '../../../server/core/transport.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { openSocket, openTap, type TestSocket } from '../../support/ws-client.ts';
import { until } from '../../support/until.ts';

let running: RunningHub;
const clients: TestSocket[] = [];

beforeAll(async () => {
  running = await startHub(testConfig());
});
afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await running?.close();
});

/** The hub side of every open connection: its `ws` socket and the raw socket under it. */
function serverSockets(): { ws: ServerSocket; raw: Socket }[] {
  return [...running.hub.connections].map((conn) => {
    const transport = conn.transport as WsTransport;
    expect(transport).toBeInstanceOf(WsTransport);
    return { ws: transport.ws, raw: transport.socket };
  });
}

describe('WebSocket routes', () => {
  it('give every socket the same listeners, one per event, whatever its mode', async () => {
    clients.push(await openTap(`${running.wsUrl}/shared.a`), await openTap(`${running.wsUrl}/shared.b,shared.c`));
    clients.push(await openSocket(running.wsUrl, 'hub.v1'), await openSocket(running.wsUrl));
    await until('four connections', () => running.hub.connections.size === 4, 2000);
    const sockets = serverSockets();
    for (const event of ['message', 'close', 'error', 'pong']) {
      const lists = sockets.map(({ ws }) => ws.listeners(event));
      for (const list of lists) expect(list, event).toHaveLength(1);
      for (const list of lists) expect(list[0], event).toBe(lists[0][0]);
    }
    const drains = sockets.map(({ raw }) => raw.listeners('drain'));
    for (const list of drains) expect(list).toHaveLength(1);
    for (const list of drains) expect(list[0]).toBe(drains[0][0]);
  });

  it('still serve each connection its own session through the shared listeners', async () => {
    const tap = await openTap(`${running.wsUrl}/shared.x`);
    const app = await openSocket(running.wsUrl, 'hub.v1');
    clients.push(tap, app);
    await app.nextJson((f) => f.op === 'welcome');
    tap.send('hello');
    expect(await tap.nextJson((f) => f.op === 'error')).toMatchObject({ code: 'forbidden' });
    app.send({ op: 'ping', id: 7 });
    expect(await app.nextJson((f) => f.id === 7)).toMatchObject({ op: 'ok' });
    tap.close();
    await until('the tap detached', () => [...running.hub.connections].every((c) => !c.subs.has('shared.x')), 2000);
  });
});
