import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { testConfig } from '../../server/config.ts';
import { startHub } from '../../server/server.ts';
import { openSocket, openTap, sleep } from '../support/ws-client.ts';

describe('graceful shutdown', () => {
  it('under load, every message acknowledged to a publisher reaches the subscribers before 1001', async () => {
    const key = 'shutdown-key';
    const running = await startHub(testConfig({ publishKey: key }));
    const subs = await Promise.all([1, 2, 3].map(() => openTap(`${running.wsUrl}/sd.*`)));
    const publisher = await openSocket(`${running.wsUrl}?token=${key}`, 'hub.v1');
    await publisher.nextJson((f) => f.op === 'welcome');
    let id = 0;
    let stop = false;
    const pumping = (async () => {
      while (!stop && publisher.ws.readyState === publisher.ws.OPEN) {
        for (let i = 0; i < 50; i++) publisher.send({ op: 'pub', id: ++id, topic: 'sd.t', data: { id } });
        await sleep(1);
      }
    })();
    await sleep(300);
    await running.close();
    stop = true;
    await pumping;
    const closes = await Promise.all([publisher, ...subs].map((s) => s.closed));
    expect(closes.every((c) => c.code === 1001)).toBe(true);
    const acked = publisher.frames.map((f) => JSON.parse(f)).filter((f) => f.op === 'ok').map((f) => f.seq as number);
    expect(acked.length).toBeGreaterThan(100);
    for (const sub of subs) {
      const got = sub.frames.map((f) => JSON.parse(f).seq as number);
      expect(got.slice(0, acked.length)).toEqual(acked); // in order, nothing acknowledged is missing
    }
  });
});

describe('listen backlog', () => {
  /** The LISTEN socket's backlog, as the kernel reports it (ss: Send-Q of a listening socket). */
  function backlogOf(port: number): number {
    const out = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
    const fields = out.trim().split(/\s+/);
    if (fields[0] !== 'LISTEN') throw new Error(`ss found no listening socket on ${port}: ${out}`);
    return Number(fields[2]);
  }

  it('listens with LISTEN_BACKLOG, which the kernel caps at net.core.somaxconn', async () => {
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    const small = await startHub(testConfig({ listenBacklog: 7 }));
    const large = await startHub(testConfig());
    try {
      expect(backlogOf(small.port)).toBe(7);
      // The default asks for as much as the kernel allows, far above Node's 511.
      expect(backlogOf(large.port)).toBe(Math.min(somaxconn, 65_535));
    } finally {
      await small.close();
      await large.close();
    }
  });
});
