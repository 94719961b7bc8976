/**
 * The suite's file order within a group (vitest.config.ts): longest first, as vitest's own
 * sequencer does (from the durations of the last run), but with the short files spread between
 * the long ones instead of all left to the end. The long files mostly wait (drains, restarts,
 * token lifetimes, bar seconds) while a short one is mostly module loading, i.e. CPU: mixed, the
 * cores work through the short ones while the long ones wait, rather than idling through the long
 * ones and then queueing on the short ones. Only the order changes; every file runs as before.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** A file that took this long or more (ms, last run) counts as long. */
const LONG_MS = 1500;

export default class SpreadSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const duration = (spec: TestSpecification): number | undefined =>
      this.ctx.cache.getFileTestResults(`${spec.project.name}:${relative(this.ctx.config.root, spec.moduleId)}`)?.duration;
    // Groups run one after the other; keep that order and spread within each.
    const out: TestSpecification[] = [];
    for (const order of [...new Set(sorted.map((s) => s.project.config.sequence.groupOrder))]) {
      const group = sorted.filter((s) => s.project.config.sequence.groupOrder === order);
      // Unknown durations (a new file, no cache) count as long and go first, as in vitest's order.
      const key = (s: TestSpecification) => duration(s) ?? Number.POSITIVE_INFINITY;
      const byLength = [...group].sort((a, b) => key(b) - key(a));
      const long = byLength.filter((s) => key(s) >= LONG_MS);
      const short = byLength.filter((s) => key(s) < LONG_MS);
      let taken = 0;
      long.forEach((spec, i) => {
        out.push(spec);
        const upTo = Math.floor(((i + 1) * short.length) / long.length);
        while (taken < upTo) out.push(short[taken++]);
      });
      out.push(...short.slice(taken));
    }
    return out;
  }
}
