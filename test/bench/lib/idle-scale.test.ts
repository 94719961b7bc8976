/** The idle-at-scale phase's sizing and addressing: how many connections fit the open-files limit, where they come from, and how a smaller run is reported. */
import { describe, expect, it } from 'vitest';
import { IDLE_SCALE_FD_HEADROOM, IDLE_SCALE_MIN, idleScaleSize, renderIdleScale, type IdleScaleResult, type IdleScaleRun } from '../../../bench/lib/idle-scale.ts';
import { scenarioTargets } from '../../../bench/lib/scenario-targets.ts';

describe('idleScaleSize', () => {
  it('runs all that was asked when the limit allows it, with the headroom the hub keeps back', () => {
    expect(idleScaleSize(100_000, 100_000 + IDLE_SCALE_FD_HEADROOM)).toEqual({ connections: 100_000 });
  });

  it('scales down to what fits, saying from what and why, and skips when not even the minimum fits', () => {
    const size = idleScaleSize(100_000, 20_000);
    expect(size?.connections).toBe(20_000 - IDLE_SCALE_FD_HEADROOM);
    expect(size?.scaledDown?.requested).toBe(100_000);
    expect(size?.scaledDown?.reason).toContain('open-files hard limit 20000 < 101200');
    expect(idleScaleSize(100_000, IDLE_SCALE_MIN + IDLE_SCALE_FD_HEADROOM)?.connections).toBe(IDLE_SCALE_MIN);
    expect(idleScaleSize(100_000, IDLE_SCALE_MIN + IDLE_SCALE_FD_HEADROOM - 1)).toBeNull();
  });

  it('a scaled-down run names both counts in its report and target row', () => {
    const run: IdleScaleRun = { server: 'tickhub', sourceAddresses: ['127.0.0.2'], opened: 18_800, failed: 0, firstError: null, connectMs: 1, rssBefore: 0, rssAfter: 18_800 * 7 * 1024, peakRss: 0, bytesPerConnection: 7 * 1024, aliveReceived: 18_800 };
    const result: IdleScaleResult = { connections: 18_800, scaledDown: { requested: 100_000, reason: 'open-files hard limit 20000 < 101200 needed' }, loadgens: 4, runs: [run] };
    expect(renderIdleScale(result)).toContain('18800 idle subscribers (4 load generators), scaled down from 100000: open-files hard limit 20000 < 101200 needed');
    const [row] = scenarioTargets({ ingest: null, topics: null, storm: null, idleScale: result });
    expect(row).toEqual({ target: '18800 idle connections (100000 asked; the open-files limit allowed no more): ≤ 10 KB RSS each', measured: '7.00 KB', pass: true });
  });
});
