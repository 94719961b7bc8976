import { describe, expect, it } from 'vitest';
import { downsample, sparkPoints } from '../../dashboard/src/sparkline.ts';

const parse = (points: string) => points.split(' ').map((p) => p.split(',').map(Number));

describe('sparkPoints', () => {
  it('#sparkPoints spans the box: first x 0, last x width, highest value at y 0, lowest at y height', () => {
    expect(sparkPoints([1, 3, 2], 100, 20)).toBe('0,20 50,0 100,10');
  });

  it('#sparkPoints draws a flat series through the middle and gives "" for fewer than two values', () => {
    expect(sparkPoints([5, 5, 5], 10, 8)).toBe('0,4 5,4 10,4');
    expect(sparkPoints([5], 10, 8)).toBe('');
    expect(sparkPoints([], 10, 8)).toBe('');
    expect(sparkPoints([Number.NaN, 1, Infinity, 2], 10, 10)).toBe('0,10 10,0');
  });

  it('#sparkPoints reduces a long series to maxPoints, keeping its ends', () => {
    const values = Array.from({ length: 3600 }, (_, i) => i);
    const pts = parse(sparkPoints(values, 80, 18, 120));
    expect(pts.length).toBe(120);
    expect(pts[0]).toEqual([0, 18]);
    expect(pts.at(-1)).toEqual([80, 0]);
    for (let i = 1; i < pts.length; i++) expect(pts[i][1]).toBeLessThanOrEqual(pts[i - 1][1]);
  });

  it('#downsample keeps first and last and returns short series unchanged', () => {
    expect(downsample([1, 2, 3], 5)).toEqual([1, 2, 3]);
    const d = downsample([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 3);
    expect(d).toEqual([0, 5, 10]);
  });
});
