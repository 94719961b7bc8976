import { describe, expect, it } from 'vitest';
import { reconnectDelay } from '../../client/backoff.ts';

const policy = { minMs: 250, maxMs: 10_000 };
const LONG_OUTAGE = 3_600_000;

describe('reconnectDelay', () => {
  it('draws from minMs / 2 up to a ceiling that doubles per attempt, capped at maxMs', () => {
    expect(reconnectDelay(policy, 0, LONG_OUTAGE, 0)).toBe(125);
    expect(reconnectDelay(policy, 0, LONG_OUTAGE, 1)).toBe(250);
    expect(reconnectDelay(policy, 3, LONG_OUTAGE, 1)).toBe(2000);
    expect(reconnectDelay(policy, 3, LONG_OUTAGE, 0.5)).toBe(125 + 0.5 * (2000 - 125));
    expect(reconnectDelay(policy, 20, LONG_OUTAGE, 1)).toBe(10_000);
  });

  it('never waits longer than the outage has lasted, nor less than the first delay allows', () => {
    // Six quick refusals in 600 ms: doubling alone would allow 16 s (capped at 10); the outage bounds it.
    expect(reconnectDelay(policy, 6, 600, 1)).toBe(600);
    expect(reconnectDelay(policy, 6, 600, 0)).toBe(125);
    // Under minMs of outage the ceiling is minMs, as for the first attempt.
    expect(reconnectDelay(policy, 6, 10, 1)).toBe(250);
    expect(reconnectDelay(policy, 0, 0, 1)).toBe(250);
    // Once the outage is long, doubling and maxMs decide again.
    expect(reconnectDelay(policy, 2, 5000, 1)).toBe(1000);
    expect(reconnectDelay(policy, 9, 60_000, 1)).toBe(10_000);
  });

  it('stays within [minMs / 2, ceiling] over its whole range', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      for (const outage of [0, 100, 900, 3000, 60_000]) {
        for (const r of [0, 0.25, 0.999]) {
          const d = reconnectDelay(policy, attempt, outage, r);
          expect(d).toBeGreaterThanOrEqual(125);
          expect(d).toBeLessThanOrEqual(Math.min(10_000, 250 * 2 ** attempt, Math.max(250, outage)));
        }
      }
    }
  });
});
