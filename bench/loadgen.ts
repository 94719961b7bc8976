/**
 * Load-generator process: N raw subscribers (and optionally the publisher) driven by the runner
 * over IPC. Runs as its own process so its CPU use is separate from the server's and from the
 * runner's; it reports its own CPU time and event-loop delay so the runner can tell when a
 * result is limited by the load generator rather than by the server.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { nowMs, sleep } from './lib/clock.ts';
import { Histogram } from './lib/histogram.ts';
import { Publisher } from './lib/publisher.ts';
import { RawSubscriber, type Sampler } from './lib/subscriber.ts';
import type { Command, DrainResult, Reply } from './lib/ipc.ts';
import { StormClients } from './lib/storm-clients.ts';

const sampler: Sampler = { every: 1, hist: new Histogram(), unparsable: 0 };
let subs: RawSubscriber[] = [];
let publisher: Publisher | null = null;
const storm = new StormClients();
let armedCpu = process.cpuUsage();
let armedAt = nowMs();
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();

function reply(msg: Reply): void {
  process.send?.(msg);
}

async function openAll(cmd: Extract<Command, { type: 'connect' }>): Promise<Reply> {
  const t0 = nowMs();
  subs = [];
  let failed = 0;
  let firstError: string | null = null;
  for (let i = 0; i < cmd.count; i += cmd.concurrency) {
    const wave: Promise<void>[] = [];
    for (let j = i; j < Math.min(cmd.count, i + cmd.concurrency); j++) {
      const target = cmd.paths ? { ...cmd.sub, path: cmd.paths[j] } : cmd.sub;
      const s = new RawSubscriber(target, sampler, cmd.firstIndex + j);
      subs.push(s);
      wave.push(
        s.open().catch((err: Error) => {
          failed++;
          firstError ??= err.message;
        }),
      );
    }
    await Promise.all(wave);
  }
  if (cmd.pub) {
    publisher = new Publisher(cmd.pub);
    try {
      await publisher.open();
    } catch (err) {
      failed++;
      firstError ??= `publisher: ${(err as Error).message}`;
    }
  }
  return { type: 'connected', opened: subs.length - failed, failed, firstError, ms: nowMs() - t0 };
}

async function drain(expectedAll: number | number[], idleMs: number, maxMs: number): Promise<DrainResult> {
  const expectedOf = typeof expectedAll === 'number' ? () => expectedAll : (i: number) => expectedAll[i] ?? 0;
  const t0 = nowMs();
  let lastTotal = -1;
  let lastProgress = t0;
  let endedBy: DrainResult['endedBy'] = 'complete';
  for (;;) {
    let total = 0;
    let behind = false;
    for (let i = 0; i < subs.length; i++) {
      const s = subs[i];
      total += s.count;
      if (s.count < expectedOf(i) && !s.closed) behind = true;
    }
    const t = nowMs();
    if (!behind) break;
    if (total !== lastTotal) {
      lastTotal = total;
      lastProgress = t;
    } else if (t - lastProgress > idleMs) {
      endedBy = 'idle';
      break;
    }
    if (t - t0 > maxMs) {
      endedBy = 'timeout';
      break;
    }
    await sleep(10);
  }
  let received = 0;
  let lost = 0;
  let extra = 0;
  let minPerSub = Infinity;
  let maxPerSub = 0;
  let closed = 0;
  let lastAt = 0;
  const closeCodes: Record<string, number> = {};
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i];
    const expected = expectedOf(i);
    received += s.count;
    lost += Math.max(0, expected - s.count);
    extra += Math.max(0, s.count - expected);
    minPerSub = Math.min(minPerSub, s.count);
    maxPerSub = Math.max(maxPerSub, s.count);
    if (s.lastAt > lastAt) lastAt = s.lastAt;
    if (s.closed) {
      closed++;
      const k = String(s.closeCode || 'tcp');
      closeCodes[k] = (closeCodes[k] ?? 0) + 1;
    }
  }
  const cpu = process.cpuUsage(armedCpu);
  return {
    subscribers: subs.length,
    endedBy,
    received,
    lost,
    extra,
    minPerSub: subs.length ? minPerSub : 0,
    maxPerSub,
    closed,
    closeCodes,
    lastAt,
    latency: sampler.hist.toData(),
    unparsable: sampler.unparsable,
    armedAt,
    cpuSec: (cpu.user + cpu.system) / 1e6,
    wallSec: (nowMs() - armedAt) / 1000,
    loopDelayMaxMs: loopDelay.max / 1e6,
  };
}

async function handle(cmd: Command): Promise<Reply> {
  switch (cmd.type) {
    case 'connect':
      return openAll(cmd);
    case 'arm':
      sampler.every = Math.max(1, Math.floor(cmd.sampleEvery));
      sampler.hist.reset();
      sampler.unparsable = 0;
      for (const s of subs) s.resetCount();
      armedCpu = process.cpuUsage();
      armedAt = nowMs();
      loopDelay.reset();
      return { type: 'armed' };
    case 'publish':
      if (!publisher) return { type: 'error', message: 'this load generator has no publisher' };
      return { type: 'published', result: await publisher.run(cmd.rate, cmd.durationMs) };
    case 'drain':
      return {
        type: 'drained',
        result: await drain(cmd.expected, cmd.idleMs, cmd.maxMs),
        pubReplies: publisher ? publisher.replies() : null,
      };
    case 'storm-open':
      storm.open(cmd.spec);
      return { type: 'storm', stats: storm.stats(nowMs()) };
    case 'storm-want':
      storm.want(cmd.seq);
      return { type: 'storm', stats: storm.stats(nowMs()) };
    case 'storm-stats':
      return { type: 'storm', stats: storm.stats(cmd.since, cmd.attemptsFrom) };
    case 'storm-close':
      storm.close();
      return { type: 'storm', stats: storm.stats(nowMs()) };
    case 'replies':
      return { type: 'replies', pubReplies: publisher ? publisher.replies() : null };
    case 'disconnect':
      for (const s of subs) s.destroy();
      publisher?.close();
      subs = [];
      publisher = null;
      return { type: 'disconnected' };
  }
}

process.on('message', (cmd: Command) => {
  handle(cmd).then(reply, (err: Error) => reply({ type: 'error', message: err.stack ?? err.message }));
});
process.on('disconnect', () => process.exit(0));
