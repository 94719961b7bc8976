import { describe, expect, it } from 'vitest';
import { DueQueue } from '../../../server/core/due-queue.ts';
import { sleep } from '../../support/until.ts';

const silent = { error: () => {} };

describe('DueQueue', () => {
  it('#add calls onDue once per item, in time order, only when due', async () => {
    const seen: string[] = [];
    const q = new DueQueue<string>(silent, 'test', (s) => seen.push(s));
    const now = performance.now();
    q.add(now + 60, 'c');
    q.add(now + 20, 'a');
    q.add(now + 40, 'b');
    q.add(now + 20, 'a2');
    expect(seen).toEqual([]);
    await sleep(30);
    expect(seen.sort()).toEqual(['a', 'a2']);
    await sleep(60);
    expect(seen.slice(2)).toEqual(['b', 'c']);
    expect(q.size).toBe(0);
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
