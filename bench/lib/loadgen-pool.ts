/**
 * The runner's handle on one or more load-generator processes. Subscribers are split evenly
 * across processes; process 0 also publishes. A step is: arm all, publish, drain all, merge.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnNode, stopChild } from './child.ts';
import type { Command, DrainResult, Reply } from './ipc.ts';
import type { PublisherTarget, PublishResult, ReplyCounts } from './publisher.ts';
import type { SubscriberTarget } from './subscriber.ts';
import type { StormStats } from './storm-clients.ts';

class LoadgenProcess {
  private readonly pending: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];

  constructor(readonly child: ChildProcess) {
    child.on('message', (msg: Reply) => this.pending.shift()?.resolve(msg));
    child.on('exit', (code, signal) => {
      for (const p of this.pending.splice(0)) p.reject(new Error(`load generator exited (${code ?? signal})`));
    });
  }

  /** Sends one command and resolves with its reply; rejects on `{type:'error'}`. */
  call<T extends Reply['type']>(cmd: Command, expect: T): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.pending.push({
        resolve: (r) => {
          if (r.type === expect) resolve(r as Extract<Reply, { type: T }>);
          else reject(new Error(r.type === 'error' ? r.message : `unexpected reply ${r.type}`));
        },
        reject,
      });
      this.child.send(cmd);
    });
  }
}

/** What one step returns before server-side numbers are added. */
export interface PoolStepResult {
  publish: PublishResult;
  drains: DrainResult[];
  pubReplies: ReplyCounts | null;
}

/** Connection outcome across processes. */
export interface PoolConnectResult {
  opened: number;
  failed: number;
  firstError: string | null;
  ms: number;
}

export class LoadgenPool {
  /** Subscribers opened by the last connect. */
  private subscribers = 0;

  private constructor(private readonly procs: LoadgenProcess[]) {}

  /** Starts `n` load-generator processes. */
  static start(n: number, root: string): LoadgenPool {
    const procs: LoadgenProcess[] = [];
    for (let i = 0; i < n; i++) {
      procs.push(new LoadgenProcess(spawnNode({ entry: 'bench/loadgen.ts', cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
    }
    return new LoadgenPool(procs);
  }

  get size(): number {
    return this.procs.length;
  }

  get pids(): number[] {
    return this.procs.map((p) => p.child.pid ?? -1);
  }

  /** Subscriber indexes [first, first + count) of each process: contiguous, split evenly. */
  private split(subscribers: number): Array<{ first: number; count: number }> {
    const n = this.procs.length;
    let first = 0;
    return this.procs.map((_, i) => {
      const count = Math.floor(subscribers / n) + (i < subscribers % n ? 1 : 0);
      const part = { first, count };
      first += count;
      return part;
    });
  }

  /**
   * Opens `subscribers` connections split over the processes, then the publisher (process 0).
   * `paths[i]`, when given, is subscriber i's request path (its subscriptions).
   */
  async connect(sub: SubscriberTarget, pub: PublisherTarget | null, subscribers: number, concurrency = 100, paths?: string[]): Promise<PoolConnectResult> {
    const parts = this.split(subscribers);
    this.subscribers = subscribers;
    const calls = this.procs.map((p, i) => {
      const { first, count } = parts[i];
      const cmd: Command = { type: 'connect', sub, count, firstIndex: first, concurrency, pub: i === 0 ? pub : null, paths: paths?.slice(first, first + count) };
      return p.call(cmd, 'connected');
    });
    const replies = await Promise.all(calls);
    return {
      opened: replies.reduce((a, r) => a + r.opened, 0),
      failed: replies.reduce((a, r) => a + r.failed, 0),
      firstError: replies.find((r) => r.firstError)?.firstError ?? null,
      ms: Math.max(...replies.map((r) => r.ms)),
    };
  }

  /**
   * One measurement: publish `rate` msg/s for `durationMs`, then wait for delivery to finish.
   * `expectedPer(sent)`, when given, is what each subscriber should have got (a subscription mix);
   * otherwise every subscriber should get every message.
   */
  async step(rate: number, durationMs: number, sampleEvery: number, idleMs: number, maxDrainMs: number, expectedPer?: (sent: number) => number[]): Promise<PoolStepResult> {
    await Promise.all(this.procs.map((p) => p.call({ type: 'arm', sampleEvery }, 'armed')));
    const { result: publish } = await this.procs[0].call({ type: 'publish', rate, durationMs }, 'published');
    const per = expectedPer?.(publish.sent);
    const parts = this.split(this.subscribers);
    const drained = await Promise.all(
      this.procs.map((p, i) =>
        p.call({ type: 'drain', expected: per ? per.slice(parts[i].first, parts[i].first + parts[i].count) : publish.sent, idleMs, maxMs: maxDrainMs }, 'drained'),
      ),
    );
    return { publish, drains: drained.map((d) => d.result), pubReplies: drained[0].pubReplies };
  }

  /** Sends one storm command to every process; their stats, one per process. */
  async storm(cmd: Extract<Command, { type: `storm-${string}` }>): Promise<StormStats[]> {
    const replies = await Promise.all(this.procs.map((p, i) => p.call(cmd.type === 'storm-open' ? { ...cmd, spec: { ...cmd.spec, count: this.share(cmd.spec.count, i) } } : cmd, 'storm')));
    return replies.map((r) => r.stats);
  }

  /** Process i's share of `total` (split evenly). */
  private share(total: number, i: number): number {
    const n = this.procs.length;
    return Math.floor(total / n) + (i < total % n ? 1 : 0);
  }

  /** The publisher's reply counts now (process 0). */
  async replies(): Promise<ReplyCounts | null> {
    return (await this.procs[0].call({ type: 'replies' }, 'replies')).pubReplies;
  }

  /** Closes every subscriber and the publisher. */
  async disconnect(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.call({ type: 'disconnect' }, 'disconnected')));
  }

  /** Ends the processes. */
  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => stopChild(p.child)));
  }
}
