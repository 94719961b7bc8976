/**
 * Messages between the runner (bench/run.ts) and load-generator processes (bench/loadgen.ts),
 * sent over the Node IPC channel. Every command gets exactly one reply of the matching type or
 * `{type:'error'}`.
 */
import type { HistogramData } from './histogram.ts';
import type { PublisherTarget, PublishResult, ReplyCounts } from './publisher.ts';
import type { SubscriberTarget } from './subscriber.ts';
import type { StormOpenSpec, StormStats } from './storm-clients.ts';

export type Command =
  | {
      type: 'connect';
      sub: SubscriberTarget;
      /** Subscriber connections this process opens. */
      count: number;
      /** Index of this process's first subscriber (spreads latency sampling across processes). */
      firstIndex: number;
      /** Opened concurrently, in waves, so the server's accept backlog is not overrun. */
      concurrency: number;
      /** Only one process publishes. */
      pub: PublisherTarget | null;
      /** Per subscriber of this process: its request path (a subscription mix); default `sub.path`. */
      paths?: string[];
    }
  | { type: 'arm'; sampleEvery: number }
  | { type: 'publish'; rate: number; durationMs: number }
  /** `expected`: messages every subscriber should get, or per subscriber of this process (a subscription mix). */
  | { type: 'drain'; expected: number | number[]; idleMs: number; maxMs: number }
  | { type: 'replies' }
  /** Reconnect storm: open tickhub clients, set the seq they must reach, read their totals, close them. */
  | { type: 'storm-open'; spec: StormOpenSpec }
  | { type: 'storm-want'; seq: number }
  | { type: 'storm-stats'; since: number; attemptsFrom?: number }
  | { type: 'storm-close' }
  | { type: 'disconnect' };

/** Subscriber-side totals of one step from one process. */
export interface DrainResult {
  subscribers: number;
  /** `complete`: every open subscriber got `expected`; `idle`: nothing arrived for `idleMs` (the rest is lost); `timeout`: still arriving at `maxMs` (backlog). */
  endedBy: 'complete' | 'idle' | 'timeout';
  /** Frames received across all subscribers. */
  received: number;
  /** Sum over subscribers of max(0, expected - received). */
  lost: number;
  /** Sum over subscribers of max(0, received - expected). */
  extra: number;
  minPerSub: number;
  maxPerSub: number;
  /** Subscribers whose connection closed (e.g. dropped as slow consumers). */
  closed: number;
  closeCodes: Record<string, number>;
  /** nowMs() of the last frame received by any subscriber. */
  lastAt: number;
  latency: HistogramData;
  unparsable: number;
  /** nowMs() when the step was armed. */
  armedAt: number;
  /** This process's CPU time since `arm` and wall time since `arm`, in seconds. */
  cpuSec: number;
  wallSec: number;
  /** Worst event-loop delay seen since `arm` (ms): a saturated load generator shows it here. */
  loopDelayMaxMs: number;
}

export type Reply =
  | { type: 'connected'; opened: number; failed: number; firstError: string | null; ms: number }
  | { type: 'armed' }
  | { type: 'published'; result: PublishResult }
  | { type: 'drained'; result: DrainResult; pubReplies: ReplyCounts | null }
  | { type: 'replies'; pubReplies: ReplyCounts | null }
  | { type: 'disconnected' }
  | { type: 'storm'; stats: StormStats }
  | { type: 'error'; message: string };
