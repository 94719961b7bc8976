/**
 * Loopback source addresses for the phases that open thousands of connections. Each address has
 * its own ~28,000 ephemeral ports, and a closed socket keeps its port in TIME_WAIT for 60 s: a
 * phase that connects from a fresh address cannot run out of ports because of an earlier one
 * (Linux routes all of 127/8 to lo).
 */
import { ALL_SERVERS, type ServerName } from './targets.ts';

/** `count` loopback source addresses from 127.0.0.2 on, skipping the first `skip`. */
export function sourceAddresses(count: number, skip = 0): string[] {
  return Array.from({ length: count }, (_, i) => {
    const n = i + skip + 2;
    return `127.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
  });
}

/** Addresses from here on are the idle phase's: clear of idle-at-scale's (127.0.0.x) at any size it runs. */
const IDLE_PHASE_SKIP = 256;

/**
 * Where the idle phase's 10,000 subscribers of `server` connect from: an address of its own
 * (127.0.1.x). From 127.0.0.1 they ran out of ports after a reconnect storm had left tens of
 * thousands in TIME_WAIT there (EADDRNOTAVAIL, and no publisher for the alive check, 2026-12-03).
 */
export function idlePhaseAddress(server: ServerName): string {
  return sourceAddresses(1, IDLE_PHASE_SKIP + ALL_SERVERS.indexOf(server))[0];
}
