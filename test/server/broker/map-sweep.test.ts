import { describe, expect, it } from 'vitest';
import { MapSweeper } from '../../../server/broker/map-sweep.ts';

const numbered = (n: number) => new Map(Array.from({ length: n }, (_, i) => [i, i] as [number, number]));

describe('MapSweeper', () => {
  describe('#step', () => {
    it('visits at most `budget` entries per step', () => {
      const map = numbered(10);
      const visited: number[] = [];
      const sweeper = new MapSweeper(map, (k) => (visited.push(k), false));
      expect(sweeper.step(3)).toBe(0);
      expect(visited).toEqual([0, 1, 2]);
      expect(map.size).toBe(10);
    });

    it('resumes where the last step stopped, then starts a new pass after the end', () => {
      const visited: number[] = [];
      const sweeper = new MapSweeper(numbered(5), (k) => (visited.push(k), false));
      sweeper.step(2);
      sweeper.step(2);
      sweeper.step(2); // 4, then the end of the pass
      expect(visited).toEqual([0, 1, 2, 3, 4]);
      sweeper.step(2);
      expect(visited).toEqual([0, 1, 2, 3, 4, 0, 1]);
    });

    it('deletes what `forget` accepts, counts it and calls onForget with each key', () => {
      const map = numbered(6);
      const forgotten: number[] = [];
      const sweeper = new MapSweeper(map, (_, v) => v % 2 === 0, (k) => forgotten.push(k));
      expect(sweeper.step(4)).toBe(2);
      expect(forgotten).toEqual([0, 2]);
      expect(sweeper.step(10)).toBe(1);
      expect(forgotten).toEqual([0, 2, 4]);
      expect([...map.keys()]).toEqual([1, 3, 5]);
    });

    it('survives entries deleted and added between steps and during one', () => {
      const map = numbered(6);
      const visited: number[] = [];
      const sweeper = new MapSweeper(map, (k) => {
        visited.push(k);
        if (k === 0) map.delete(1); // deleted by someone else mid-step: never visited
        return false;
      });
      sweeper.step(2); // 0, 2
      map.delete(3); // deleted between steps: skipped
      map.set(9, 9); // added between steps: visited in this pass
      sweeper.step(10);
      expect(visited).toEqual([0, 2, 4, 5, 9]);
    });

    it('forgets every entry of a map emptied in one pass, and then does nothing', () => {
      const map = numbered(100);
      const sweeper = new MapSweeper(map, () => true);
      let total = 0;
      for (let i = 0; i < 12; i++) total += sweeper.step(10);
      expect(total).toBe(100);
      expect(map.size).toBe(0);
      expect(sweeper.step(10)).toBe(0);
    });

    it('sees entries added after a pass ended in the next pass', () => {
      const map = numbered(2);
      const sweeper = new MapSweeper(map, (k) => k === 7);
      expect(sweeper.step(5)).toBe(0); // pass over
      map.set(7, 7);
      expect(sweeper.step(5)).toBe(1);
      expect(map.has(7)).toBe(false);
    });

    it('does nothing with a budget of 0', () => {
      const map = numbered(3);
      const sweeper = new MapSweeper(map, () => true);
      expect(sweeper.step(0)).toBe(0);
      expect(map.size).toBe(3);
    });
  });
});
