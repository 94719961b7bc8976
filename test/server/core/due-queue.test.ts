import { describe, expect, it } from 'vitest';
import { DueQueue } from '../../../server/core/due-queue.ts';
import { sleep, until } from '../../support/until.ts';

const silent = { error: () => {} };

describe('DueQueue', () => {
  it('#add calls onDue once per item, in time order, only when due', async () => {
    // Judged by when each call happened, not by what a sleep saw: a loaded machine oversleeps.
    const seen: Array<{ item: string; at: number }> = [];
    const q = new DueQueue<string>(silent, 'test', (item) => seen.push({ item, at: performance.now() }));
    const now = performance.now();
    const due: Record<string, number> = { c: now + 60, a: now + 20, b: now + 40, a2: now + 20 };
    for (const [item, at] of Object.entries(due)) q.add(at, item);
    expect(seen).toEqual([]);
    await until('all four due', () => seen.length === 4, 2000, 5);
    expect(seen.map((s) => s.item).slice(2)).toEqual(['b', 'c']);
    expect(seen.map((s) => s.item).slice(0, 2).sort()).toEqual(['a', 'a2']);
    for (const s of seen) expect(s.at, s.item).toBeGreaterThanOrEqual(due[s.item] - 1); // timers may fire up to 1 ms early
    expect(q.size).toBe(0);
    await sleep(80);
    expect(seen).toHaveLength(4); // once each
  });

  it('keeps order over many random times (heap property)', async () => {
    const seen: number[] = [];
    const q = new DueQueue<number>(silent, 'test', (n) => seen.push(n));
    const now = performance.now();
    const times = Array.from({ length: 500 }, () => Math.random() * 30);
    for (const t of times) q.add(now + t, t);
    await sleep(60);
    expect(seen).toEqual([...times].sort((a, b) => a - b));
  });

  it('a throwing onDue is logged and the queue carries on', async () => {
    const errors: unknown[] = [];
    const seen: number[] = [];
    const q = new DueQueue<number>({ error: (e: unknown) => errors.push(e) }, 'test', (n) => {
      if (n === 1) throw new Error('boom');
      seen.push(n);
    });
    q.add(performance.now() + 5, 1);
    q.add(performance.now() + 10, 2);
    await sleep(40);
    expect(errors).toHaveLength(1);
    expect(seen).toEqual([2]);
  });

  it('#clear stops everything', async () => {
    const seen: number[] = [];
    const q = new DueQueue<number>(silent, 'test', (n) => seen.push(n));
    q.add(performance.now() + 5, 1);
    q.clear();
    await sleep(20);
    expect(seen).toEqual([]);
  });
});
