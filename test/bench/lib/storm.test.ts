/** The storm's course: 100 ms buckets from the kill, summed into half-second steps from the listen. */
import { describe, expect, it } from 'vitest';
import { timeline } from '../../../bench/lib/storm.ts';

describe('timeline', () => {
  it('sums each half second from the listen and carries caught-up clients forward, counting those before the listen', () => {
    // Buckets from the kill; the hub listened 1000 ms after it (bucket 10).
    const attemptBuckets = [5, 5, 5, 0, 0, 0, 0, 0, 0, 0, /* listen */ 1, 2, 3, 4, 5, /* +0.5 s */ 6, 0, 0, 0, 1];
    const welcomeBuckets = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* listen */ 0, 1, 1, 1, 1, /* +0.5 s */ 2, 2, 2, 2, 2, /* +1 s */ 7];
    const caughtUpBuckets = [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* listen */ 0, 0, 0, 0, 3, /* +0.5 s */ 0, 0, 0, 0, 4];
    expect(timeline({ attemptBuckets, welcomeBuckets, caughtUpBuckets }, 1000)).toEqual([
      { atMs: 0, attempts: 15, handshakes: 4, caughtUp: 5 },
      { atMs: 500, attempts: 7, handshakes: 10, caughtUp: 9 },
      { atMs: 1000, attempts: 0, handshakes: 7, caughtUp: 9 },
    ]);
  });

  it('starts at the step holding the listen when it falls inside a bucket', () => {
    expect(timeline({ attemptBuckets: [1, 2, 3], welcomeBuckets: [], caughtUpBuckets: [] }, 150)).toEqual([{ atMs: 0, attempts: 5, handshakes: 0, caughtUp: 0 }]);
  });

  it('is empty when nothing happened after the listen', () => {
    expect(timeline({ attemptBuckets: [3], welcomeBuckets: [], caughtUpBuckets: [1] }, 500)).toEqual([]);
  });
});
