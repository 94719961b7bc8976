/**
 * `npm run soak [-- --minutes N]`: minutes of churn against a hub in its own process — connections
 * opening and closing, slow consumers that stop reading, publishers, chat — then quiet. Passes when
 * the hub's RSS and open file descriptors return to their baseline. Not part of CI.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';
import { openRawSocket, type RawSocket } from '../test/support/raw-socket.ts';

const minutes = Number(process.argv.find((a) => a.startsWith('--minutes='))?.split('=')[1] ?? 3);
if (!(minutes > 0)) throw new Error('--minutes=N must be a positive number');
const KEY = 'soak-publish-key';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function procStats(pid: number): { rssMb: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rssMb: Math.round(rssKb / 102.4) / 10, fds: readdirSync(`/proc/${pid}/fd`).length };
}

async function main(): Promise<void> {
  const port = await freePort();
  const hub = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, PORT: String(port), HUB_PUBLISH_KEY: KEY, LOG_LEVEL: 'warn', OUTBOX_LIMIT_BYTES: String(256 * 1024) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `ws://127.0.0.1:${port}/ws`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      await sleep(100);
    }
  }

  // Warm up JIT, buffers and history, then take the baseline at a steady, quiet state.
  const publisher = new WebSocket(`${url}?token=${KEY}`, 'hub.v1');
  await new Promise((r) => publisher.once('open', r));
  let id = 0;
  const publish = (topic: string, data: unknown) => publisher.send(JSON.stringify({ op: 'pub', id: ++id, topic, data }));
  publisher.on('close', (code, reason) => console.log(`publisher closed ${code} ${reason}`));
  for (let i = 0; i < 20_000; i++) {
    publish(`soak.t${i % 20}`, { i, pad: 'x'.repeat(100) });
    if (i % 500 === 0) await sleep(1); // read the acks: a publisher that never reads them is a slow consumer too
  }
  await sleep(3000);
  const baseline = procStats(hub.pid!);
  console.log(`baseline: rss ${baseline.rssMb} MB, fds ${baseline.fds}`);

  const endAt = Date.now() + minutes * 60_000;
  let opened = 0;
  let slow = 0;
  let peak = baseline;
  const publishing = setInterval(() => {
    // Half on disconnect-policy topics, half on ticks (conflate policy).
    for (let i = 0; i < 50; i++) publish(i % 2 ? `soak.t${i % 20}` : `ticks.T${i % 10}`, { t: Date.now(), pad: 'x'.repeat(400) });
  }, 10); // ~5000 msg/s, ~2.5 MB/s to each subscriber of everything
  const sampling = setInterval(() => {
    const s = procStats(hub.pid!);
    if (s.rssMb > peak.rssMb) peak = s;
  }, 500);

  const churn = async () => {
    while (Date.now() < endAt) {
      const kind = opened % 4;
      opened++;
      if (kind === 3) {
        // A slow consumer: subscribes to a whole tree, stops reading, and leaves after a while.
        let raw: RawSocket | null = null;
        try {
          raw = await openRawSocket(`${url}/${slow % 2 ? 'soak.>' : 'ticks.>'}`);
          raw.pause();
          slow++;
          await sleep(8000 + Math.random() * 8000);
        } catch {
          /* refused or reset: part of the churn */
        } finally {
          raw?.socket.destroy();
        }
        continue;
      }
      const path = kind === 1 ? '/soak.t1,soak.t2' : '';
      const ws = new WebSocket(`${url}${path}`, kind === 2 ? 'hub.v1' : []);
      ws.on('error', () => {});
      await new Promise((r) => ws.once('open', r).once('error', r));
      if (kind === 0) ws.send(`hello from churn ${opened}`);
      if (kind === 2) ws.send(JSON.stringify({ op: 'sub', id: 1, topic: 'soak.*', snapshot: 50 }));
      await sleep(Math.random() * 500);
      if (Math.random() < 0.5) ws.close();
      else ws.terminate();
    }
  };
  await Promise.all(Array.from({ length: 20 }, churn));
  clearInterval(publishing);
  console.log(`load done: ${opened} connections opened, ${slow} slow consumers, ${id} messages published; peak rss ${peak.rssMb} MB`);

  // Quiet: everything closed; give sockets and V8's memory reducer up to a minute to settle.
  const rssTarget = baseline.rssMb * 1.25 + 10;
  let after = procStats(hub.pid!);
  for (let waited = 0; waited < 60 && (after.rssMb > rssTarget || after.fds > baseline.fds + 2); waited += 5) {
    await sleep(5000);
    after = procStats(hub.pid!);
  }
  clearInterval(sampling);
  const stats = (await (await fetch(`http://127.0.0.1:${port}/api/stats`)).json()) as { connections: number; slowConsumerCloses: number; conflated: number; messagesIn: number };
  console.log(
    `after: rss ${after.rssMb} MB (baseline ${baseline.rssMb}, limit ${Math.round(rssTarget)}), fds ${after.fds} (baseline ${baseline.fds}), ` +
      `open connections ${stats.connections} (the publisher), accepted ${stats.messagesIn} messages (${id} published + chat lines), ` +
      `slow-consumer closes ${stats.slowConsumerCloses}, conflated ${stats.conflated}`,
  );
  publisher.close();
  hub.kill('SIGTERM');
  const passed = after.fds <= baseline.fds + 2 && after.rssMb <= rssTarget && stats.connections === 1 && stats.messagesIn >= id;
  console.log(passed ? 'SOAK PASSED' : 'SOAK FAILED');
  process.exit(passed ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
