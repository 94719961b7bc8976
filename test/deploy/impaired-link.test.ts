/**
 * A subscriber on a bad link: 200 ms of latency and 2% packet loss between it and the hub, and a
 * `disconnect`-policy topic (docs/operations.md, "Slow consumers"). The contract: the subscriber
 * receives every message of the topic in seq order, or it is closed 1008 "slow consumer" (and a
 * resuming client then still ends with every message once). Never a silent gap or a reorder.
 *
 * What this machine allows, precisely. The issue asks for `tc netem delay 200ms loss 2%` on the
 * client's link. This kernel has no netem (CONFIG_NET_SCH_NETEM is not set; there is no
 * sch_netem module and no modprobe): `tc qdisc add dev <veth> root netem delay 200ms` inside a
 * test namespace fails with "Specified qdisc kind is unknown" (checked 2026-12-02; tbf, htb and
 * pfifo exist, fq/fq_codel/prio/sfq do not). So the same impairment is built from parts that do
 * work here:
 *
 * - **loss, in the kernel**: the hub runs in its own network namespace behind a veth pair, and
 *   nftables there drops a random 2% (`numgen random mod 100 < 2`) of the packets of the
 *   subscriber's connections, both directions; TCP really loses and retransmits them (RTO, fast
 *   retransmit), as with netem's loss. Publisher traffic uses another source address and is not
 *   impaired. The test asserts the rules did drop packets.
 * - **delay, in userspace**: the subscribers connect through test/support/delay-relay.ts, which
 *   holds every chunk 200 ms in each direction (a 400 ms round trip, more than netem's 200 ms
 *   on one interface), pausing its reads beyond 64 KiB held per direction, so the link carries
 *   at most about (64 KiB + one read) / 200 ms (this test sends about 100 KB/s). Unlike netem
 *   it delays chunks, not packets; the loss happens on the relay's short leg to the hub (so a
 *   retransmission there is quick, then delayed like everything else); and the kernel buffers
 *   in front of a paused relay (several MB) fill before the hub's socket backs up, so at this
 *   rate the hub's outbox does not overflow and the 1008 branch is asserted only if it happens
 *   (in the runs so far the tap always got every message; a try at forcing it, with a 4 KiB
 *   window, the hub's send buffer capped at 64 KiB, OUTBOX_LIMIT_BYTES=64 KiB and an 800 KB
 *   burst, still delivered everything, so a forced 1008 is not part of this test). The test
 *   asserts every message arrived at least 200 ms after the hub stamped it.
 *
 * Needs root, `ip` (iproute2) and `nft` (nftables): scripts/test-setup.sh installs them; missing,
 * the test fails naming what to install.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type WebSocketLike } from '../../client/hub-client.ts';
import type { HubMessage } from '../../protocol/wire.ts';
import { startDelayRelay, type DelayRelay } from '../support/delay-relay.ts';
import { spawnHub, type HubProcess } from '../support/hub-process.ts';
import { createVethNamespace, type VethNamespace } from '../support/netns.ts';
import { sleep, until } from '../support/until.ts';
import { openTap } from '../support/ws-client.ts';

const KEY = 'impaired-link-publish-key';
const TOPIC = 'impair.orders'; // not ticks/bars/pnl/$sys: the `disconnect` policy
const N = 1500;
const DELAY_MS = 200;
const LOSS_PERCENT = 2;

let ns: VethNamespace | undefined;
let hub: HubProcess | undefined;
let relay: DelayRelay | undefined;
const children: ChildProcess[] = [];

/** Packets the loss rules dropped so far, per direction. */
function dropped(): { in: number; out: number } {
  const count = (chain: string) => Number(/packets (\d+)/.exec(ns!.nft('list', 'chain', 'inet', 'impair', chain))?.[1] ?? NaN);
  return { in: count('in'), out: count('out') };
}

beforeAll(async () => {
  // .1 publishes (unimpaired), .3 is the subscribers' relay (2% loss), the hub is .2 in the namespace.
  ns = createVethNamespace('thimp', '10.213.8.0', 1);
  const impaired = ns.hostAddrs[1];
  try {
    ns.nft('add', 'table', 'inet', 'impair');
    ns.nft('add', 'chain', 'inet', 'impair', 'in', '{ type filter hook input priority 0; }');
    ns.nft('add', 'chain', 'inet', 'impair', 'out', '{ type filter hook output priority 0; }');
    ns.nft('add', 'rule', 'inet', 'impair', 'in', 'ip', 'saddr', impaired, 'numgen', 'random', 'mod', '100', '<', String(LOSS_PERCENT), 'counter', 'drop');
    ns.nft('add', 'rule', 'inet', 'impair', 'out', 'ip', 'daddr', impaired, 'numgen', 'random', 'mod', '100', '<', String(LOSS_PERCENT), 'counter', 'drop');
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`the impaired-link test drops packets with nftables: run scripts/test-setup.sh as root or apt-get install nftables (${e.stderr?.toString().trim() || e.message})`);
  }
  hub = await spawnHub({ HOST: ns.nsAddr, HUB_PUBLISH_KEY: KEY, HISTORY: 'impair.>=100000/600,>=1000/600' }, children, { wrap: ['ip', 'netns', 'exec', ns.name] });
  relay = await startDelayRelay({ host: ns.nsAddr, port: hub.port, localAddress: impaired, delayMs: DELAY_MS, windowBytes: 64 * 1024 });
}, 60_000);

afterAll(async () => {
  await relay?.stop();
  for (const c of children) c.kill('SIGKILL');
  ns?.remove();
});

describe(`a subscriber over ${DELAY_MS} ms of latency and ${LOSS_PERCENT}% packet loss, on a disconnect-policy topic`, () => {
  it('a tap gets every message in order or is closed 1008; a HubClient ends with every message once, in order', { timeout: 60_000 }, async () => {
    const via = `ws://127.0.0.1:${relay!.port}`;
    const tap = await openTap(`${via}/ws/${TOPIC}`);
    const arrivals: number[] = []; // receipt time of each frame after the welcome
    tap.ws.on('message', () => arrivals.push(Date.now()));
    const appSeqs: number[] = [];
    const client = new HubClient({ url: `${via}/ws`, connect: (url, protocol) => new WebSocket(url, protocol) as unknown as WebSocketLike });
    client.subscribe(TOPIC, (m) => appSeqs.push(m.seq));
    await until('the HubClient to be open', () => client.status === 'open', 10_000);
    await sleep(3 * DELAY_MS); // both subscriptions in effect before the first publish

    const payload = 'x'.repeat(300);
    for (let i = 1; i <= N; i++) {
      const res = await fetch(`http://${ns!.nsAddr}:${hub!.port}/api/publish/${TOPIC}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ i, payload }),
      });
      expect(res.status).toBe(200);
      if (i % 20 === 0) await sleep(10);
    }

    let tapClose: { code: number; reason: string } | null = null;
    void tap.closed.then((c) => (tapClose = c));
    const tapMessages = () => tap.frames.map((f) => JSON.parse(f) as HubMessage);
    await until('the tap to get every message or be closed', () => tapClose !== null || tapMessages().length >= N, 30_000, 50);
    await until('the HubClient to get every message', () => appSeqs.at(-1) === N, 30_000, 50);
    client.close();
    const drops = dropped();
    const latencies = tapMessages().map((m, k) => arrivals[k] - m.ts);
    const tapSeqs = tapMessages().map((m) => m.seq);
    tap.ws.terminate();
    console.log(
      `impaired link: dropped ${drops.in} packets in, ${drops.out} out; tap got ${tapSeqs.length}/${N}${tapClose ? `, closed ${JSON.stringify(tapClose)}` : ''}; HubClient got ${appSeqs.length}; ` +
        `tap latency min ${Math.min(...latencies)} ms, max ${Math.max(...latencies)} ms`);

    // The impairment was real: packets were dropped both ways and every message came late.
    expect(drops.in).toBeGreaterThan(0);
    expect(drops.out).toBeGreaterThan(0);
    expect(Math.min(...latencies)).toBeGreaterThanOrEqual(DELAY_MS - 2);
    // The tap: seqs 1..k, in order, no gap; all of them, or a 1008 slow-consumer close.
    expect(tapSeqs).toEqual(Array.from({ length: tapSeqs.length }, (_, k) => k + 1));
    if (tapSeqs.length < N) expect(tapClose).toEqual({ code: 1008, reason: expect.stringMatching(/slow consumer/) });
    else expect(tapSeqs.length).toBe(N);
    // The resuming client: everything once, in order, whatever closed it meanwhile.
    expect(appSeqs).toEqual(Array.from({ length: N }, (_, k) => k + 1));
  });
});
