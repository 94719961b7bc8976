import { describe, expect, it } from 'vitest';
import { Increment, cents, decimalsOf, roundTo } from '../../simulator/decimal.ts';

describe('roundTo', () => {
  it.each([
    [1.005, 2, 1.01],
    [2.675, 2, 2.68],
    [-2.675, 2, -2.68],
    [1 - 1.005, 2, -0.01],
    [0.1 + 0.2, 2, 0.3],
    [0.1 + 0.2, 8, 0.3],
    [1.0049, 2, 1],
    [123456789.125, 2, 123456789.13],
    [1e-12, 2, 0],
    [5, 0, 5],
    [2.5, 0, 3],
    [-2.5, 0, -3],
  ])('roundTo(%d, %d) = %d', (value, decimals, expected) => {
    expect(roundTo(value, decimals)).toBe(expected);
  });

  it('never returns -0', () => {
    expect(Object.is(roundTo(-0.001, 2), 0)).toBe(true);
    expect(Object.is(cents(-0), 0)).toBe(true);
  });

  it('passes non-finite values through', () => {
    expect(roundTo(Number.POSITIVE_INFINITY, 2)).toBe(Number.POSITIVE_INFINITY);
    expect(roundTo(Number.NaN, 2)).toBeNaN();
  });
});

describe('Increment', () => {
  it('knows the decimals of a step', () => {
    expect([0.01, 0.00001, 0.5, 1, 1000, 0.0001].map(decimalsOf)).toEqual([2, 5, 1, 0, 0, 4]);
  });

  it('turns tick counts into clean decimals', () => {
    const cent = new Increment(0.01);
    expect(cent.value(18999)).toBe(189.99);
    expect(cent.value(57)).toBe(0.57); // 57 * 0.01 = 0.5700000000000001 in floats
    expect(cent.value(113)).toBe(1.13); // 1.1300000000000001
    expect(new Increment(0.00001).value(108512)).toBe(1.08512);
    expect(new Increment(0.5).value(134001)).toBe(67000.5);
    expect(new Increment(1000).value(250)).toBe(250000);
    expect(cent.count(189.99)).toBe(18999);
    expect(cent.snap(1.234)).toBe(1.23);
  });

  it('rejects a non-positive step', () => {
    expect(() => new Increment(0)).toThrow(/step/);
    expect(() => new Increment(-1)).toThrow(/step/);
  });
});
