/** Loopback source addresses for the phases that open thousands of connections. */
import { describe, expect, it } from 'vitest';
import { idlePhaseAddress, sourceAddresses } from '../../../bench/lib/source-addresses.ts';
import { ALL_SERVERS } from '../../../bench/lib/targets.ts';

describe('sourceAddresses', () => {
  it('starts at 127.0.0.2, carries into the higher octets, and skips the addresses an earlier server used', () => {
    expect(sourceAddresses(2)).toEqual(['127.0.0.2', '127.0.0.3']);
    expect(sourceAddresses(256).at(-1)).toBe('127.0.1.1');
    expect(sourceAddresses(2, 2)).toEqual(['127.0.0.4', '127.0.0.5']);
    expect(sourceAddresses(1, 65534)).toEqual(['127.1.0.0']);
  });
});

describe('idlePhaseAddress', () => {
  it('gives each server an address of its own, none 127.0.0.1 and none that idle-at-scale uses at 100,000 connections', () => {
    const idle = ALL_SERVERS.map(idlePhaseAddress);
    expect(new Set(idle).size).toBe(ALL_SERVERS.length);
    expect(idle).not.toContain('127.0.0.1');
    const perServer = Math.ceil(100_000 / 20_000); // as runIdleScale spreads them
    const scale = sourceAddresses(3 * perServer);
    for (const address of idle) expect(scale).not.toContain(address);
    expect(idle[0]).toBe('127.0.1.2');
  });
});
