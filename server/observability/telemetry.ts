/**
 * The hub's own telemetry: once a second a `$sys.stats` message with this node's connections,
 * rates, drops, slowest consumers and event-loop lag, so `wscat -c 'ws://host/ws/$sys.stats'`
 * and the dashboard's ops panel see the hub live.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { SysStats } from '../../protocol/sys-stats.ts';
import { guarded } from '../guard.ts';
import type { Hub } from '../core/hub.ts';

export class Telemetry {
  private readonly lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  private timer: ReturnType<typeof setInterval> | null = null;
  private last = { messagesIn: 0, deliveries: 0, at: performance.now() };
  latest: SysStats | null = null;

  constructor(
    private readonly hub: Hub,
    private readonly log: Pick<Logger, 'error'>,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    this.lag.enable();
    // process.memoryUsage() throws EMFILE when descriptors run out: skip that tick, keep the process.
    this.timer = setInterval(guarded(this.log, 'telemetry tick', () => this.tick()), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.lag.disable();
  }

  /** Compute a snapshot now (also used by /metrics for the lag gauges). */
  snapshot(): SysStats {
    const stats = this.hub.stats();
    const now = performance.now();
    const seconds = Math.max(0.001, (now - this.last.at) / 1000);
    const connections = { total: 0, line: 0, app: 0, tap: 0, sse: 0 };
    const slowest: SysStats['slowest'] = [];
    for (const conn of this.hub.connections) {
      connections.total++;
      connections[conn.mode]++;
      const depth = conn.outbox.depth;
      if (depth > 0 || conn.dropped > 0) slowest.push({ id: conn.id, mode: conn.mode, remote: conn.remote, outboxBytes: depth, dropped: conn.dropped });
    }
    slowest.sort((a, b) => b.outboxBytes - a.outboxBytes || b.dropped - a.dropped);
    const memory = process.memoryUsage();
    const snap: SysStats = {
      ts: Date.now(),
      node: this.hub.nodeId,
      uptimeSeconds: this.hub.uptimeSeconds(),
      connections,
      subscriptions: stats.subscriptions,
      topics: this.hub.topicStats.size,
      rateIn: Math.round((stats.messagesIn - this.last.messagesIn) / seconds),
      rateOut: Math.round((stats.deliveries - this.last.deliveries) / seconds),
      messagesIn: stats.messagesIn,
      deliveries: stats.deliveries,
      bytesOut: stats.bytesOut,
      conflated: stats.conflated,
      slowConsumerCloses: stats.slowConsumerCloses,
      eventLoopLagMs: { p50: lagMs(this.lag.percentile(50)), p99: lagMs(this.lag.percentile(99)), max: lagMs(this.lag.max) },
      memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
      slowest: slowest.slice(0, 5),
    };
    this.last = { messagesIn: stats.messagesIn, deliveries: stats.deliveries, at: now };
    this.lag.reset();
    this.latest = snap;
    return snap;
  }

  private tick(): void {
    const snap = this.snapshot();
    this.hub.publishOwn('$sys.stats', snap).catch(() => {}); // a broker outage is reported elsewhere
  }
}

const LAG_RESOLUTION_MS = 10;
/** The histogram measures the sampling timer's period; the lag is what exceeds it. */
const lagMs = (ns: number) => (Number.isFinite(ns) ? Math.max(0, Math.round((ns / 1e6 - LAG_RESOLUTION_MS) * 100) / 100) : 0);
