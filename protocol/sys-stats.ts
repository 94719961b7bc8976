/** The shape of `$sys.stats`: what each hub node publishes about itself once a second. */
export interface SysStats {
  ts: number;
  /** The node these figures describe: each node of a cluster publishes its own. */
  node: string;
  uptimeSeconds: number;
  connections: { total: number; line: number; app: number; tap: number; sse: number };
  subscriptions: number;
  /** Topics this node keeps counters for (seen recently); see tickhub_topics for the broker's count. */
  topics: number;
  /** Messages per second published through this node / queued to subscribers. */
  rateIn: number;
  rateOut: number;
  messagesIn: number;
  deliveries: number;
  bytesOut: number;
  conflated: number;
  slowConsumerCloses: number;
  /** Event-loop delay over the last interval, ms. */
  eventLoopLagMs: { p50: number; p99: number; max: number };
  memory: { rssBytes: number; heapUsedBytes: number };
  /** Connections with the most unsent bytes. */
  slowest: { id: string; mode: string; remote: string; outboxBytes: number; dropped: number }[];
}
