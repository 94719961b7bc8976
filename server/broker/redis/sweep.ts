/**
 * The cluster-wide idle-topic sweep: every node runs the SWEEP script over one HSCAN chunk of
 * the seq hash per tick, each with its own cursor, so together they forget every idle topic
 * (its stream, seq and last-publish fields) without any node stalling Redis for long.
 */
import type { Logger } from 'pino';
import { forgetAfterMs } from '../broker.ts';
import type { RedisClient } from './client.ts';
import type { RetentionTable } from './retention.ts';
import { SWEEP } from './scripts.ts';

/** Seq-hash fields one step visits (the HSCAN COUNT hint). */
const SWEEP_CHUNK = 1000;

/**
 * @example
 * const sweep = new TopicSweep(redis, retention, log);
 * setInterval(() => void sweep.step(), 1000);
 */
export class TopicSweep {
  private cursor = '0';
  private running = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly retention: RetentionTable,
    private readonly log?: Logger,
  ) {}

  /**
   * One chunk, resuming where the last one stopped (a new pass after the last chunk). Never
   * rejects and never overlaps itself; skipped while Redis is unreachable, a failure is logged
   * and the chunk is retried next step.
   */
  async step(): Promise<void> {
    if (this.running || this.redis.closed || !this.redis.cmd.isReady) return;
    this.running = true;
    try {
      const args = [this.cursor, String(SWEEP_CHUNK), this.redis.key('s:'), String(forgetAfterMs(0, 0)), ...this.retention.scriptArgs()];
      const reply = (await this.redis.script(SWEEP, [this.redis.key('seq'), this.redis.key('last')], args)) as [string, number];
      this.cursor = String(reply[0]);
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'topic sweep failed; retrying next tick');
    } finally {
      this.running = false;
    }
  }
}
