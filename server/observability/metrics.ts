/**
 * `GET /metrics` in Prometheus text format. Values are read from the hub at scrape time, so the
 * hot path pays nothing for metrics. One registry per hub, so tests can run several hubs.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { guarded } from '../guard.ts';
import type { Hub } from '../core/hub.ts';
import type { Telemetry } from './telemetry.ts';

/** Topic prefix used as a label: the first token, so label cardinality stays small. */
const prefixOf = (topic: string) => topic.split('.', 1)[0];

/**
 * A collect callback that cannot fail a scrape or the process: a throw is logged and the metric
 * keeps its last value.
 */
function safeCollect<M>(log: Pick<Logger, 'error'>, name: string, fn: (metric: M) => void): (this: M) => void {
  const run = guarded(log, `metrics collect ${name}`, fn);
  return function (this: M) {
    run(this);
  };
}

/**
 * The hub's Prometheus registry (default process metrics plus the hub's own).
 *
 * @example
 * const registry = createMetrics(hub, telemetry, log);
 * const text = await registry.metrics();
 */
export function createMetrics(hub: Hub, telemetry: Telemetry, log: Pick<Logger, 'error'>): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tickhub_' });

  new Gauge({
    name: 'tickhub_connections',
    help: 'Open connections by mode (line, app, tap: WebSocket; sse: Server-Sent Events)',
    labelNames: ['mode'],
    registers: [registry],
    collect: safeCollect<Gauge>(log, 'tickhub_connections', (metric) => {
      const counts = { line: 0, app: 0, tap: 0, sse: 0 };
      for (const c of hub.connections) counts[c.mode]++;
      for (const [mode, n] of Object.entries(counts)) metric.set({ mode }, n);
    }),
  });
  new Gauge({
    name: 'tickhub_subscriptions',
    help: 'Active subscriptions (patterns) on this node',
    registers: [registry],
    collect: safeCollect<Gauge>(log, 'tickhub_subscriptions', (metric) => {
      metric.set(hub.stats().subscriptions);
    }),
  });
  new Gauge({
    name: 'tickhub_topics',
    help: 'Live topics in the broker (cluster-wide with Redis); MAX_TOPICS caps it',
    registers: [registry],
    async collect() {
      try {
        this.set(await hub.broker.topicCount());
      } catch {
        // broker unreachable: /healthz says so; keep the last value
      }
    },
  });
  const perPrefix = (name: string, help: string, pick: (c: { messages: number; deliveries: number }) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['prefix'],
      registers: [registry],
      collect: safeCollect<Counter>(log, name, (metric) => {
        const sums = new Map<string, number>();
        for (const [topic, c] of hub.topicStats.counters()) sums.set(prefixOf(topic), (sums.get(prefixOf(topic)) ?? 0) + pick(c));
        metric.reset();
        for (const [prefix, n] of sums) metric.inc({ prefix }, n);
      }),
    });
  perPrefix('tickhub_messages_total', 'Messages delivered to this node by the broker, by topic prefix', (c) => c.messages);
  perPrefix('tickhub_deliveries_total', 'Messages queued to subscribers, by topic prefix', (c) => c.deliveries);
  const total = (name: string, help: string, pick: (s: ReturnType<Hub['stats']>) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect: safeCollect<Counter>(log, name, (metric) => {
        metric.reset();
        metric.inc(pick(hub.stats()));
      }),
    });
  total('tickhub_published_total', 'Messages published through this node', (s) => s.messagesIn);
  total('tickhub_bytes_out_total', 'Bytes written to subscribers', (s) => s.bytesOut);
  total('tickhub_conflated_total', 'Messages replaced by a newer one for a congested consumer', (s) => s.conflated);
  total('tickhub_slow_consumer_closes_total', 'Connections closed 1008 as slow consumers', (s) => s.slowConsumerCloses);
  new Gauge({
    name: 'tickhub_outbox_bytes',
    help: 'Unsent bytes across all connections (sum) and the largest single outbox (max)',
    labelNames: ['stat'],
    registers: [registry],
    collect: safeCollect<Gauge>(log, 'tickhub_outbox_bytes', (metric) => {
      let sum = 0;
      let max = 0;
      for (const c of hub.connections) {
        const d = c.outbox.depth;
        sum += d;
        max = Math.max(max, d);
      }
      metric.set({ stat: 'sum' }, sum);
      metric.set({ stat: 'max' }, max);
    }),
  });
  new Gauge({
    name: 'tickhub_event_loop_lag_seconds',
    help: 'Event-loop delay over the last telemetry interval',
    labelNames: ['quantile'],
    registers: [registry],
    collect: safeCollect<Gauge>(log, 'tickhub_event_loop_lag_seconds', (metric) => {
      const lag = telemetry.latest?.eventLoopLagMs;
      if (!lag) return;
      metric.set({ quantile: '0.5' }, lag.p50 / 1000);
      metric.set({ quantile: '0.99' }, lag.p99 / 1000);
      metric.set({ quantile: '1' }, lag.max / 1000);
    }),
  });
  return registry;
}
