/** BusyMeter: event-loop utilization over the last period, and the threshold that makes it busy. */
import { describe, expect, it } from 'vitest';
import { BusyMeter } from '../../../server/core/busy-meter.ts';
import { sleep } from '../../support/until.ts';

const spin = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // a handler that keeps the loop busy
  }
};

describe('BusyMeter', () => {
  it('#sample reads busy after a blocked loop and idle after a quiet one', async () => {
    const meter = new BusyMeter(0.75);
    meter.start(); // takes the starting point; the test samples by hand
    spin(80);
    meter.sample();
    expect(meter.utilization).toBeGreaterThan(0.9);
    expect(meter.busy).toBe(true);
    await sleep(80);
    meter.sample();
    expect(meter.utilization).toBeLessThan(0.5);
    expect(meter.busy).toBe(false);
    meter.stop();
  });

  it('samples on its own timer while started, and reads idle once stopped', async () => {
    const meter = new BusyMeter(0.5, 20);
    meter.start();
    spin(60);
    await sleep(25); // the timer fires after the spin: its period was mostly busy
    expect(meter.utilization).toBeGreaterThan(0);
    meter.stop();
    expect(meter.busy).toBe(false);
  });

  it('refuses a threshold outside (0, 1]', () => {
    expect(() => new BusyMeter(0)).toThrow(RangeError);
    expect(() => new BusyMeter(1.5)).toThrow(RangeError);
  });
});
