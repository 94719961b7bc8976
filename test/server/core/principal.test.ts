import { describe, expect, it } from 'vitest';
import { canChat, canPublish, checkPublish, hasRole, ROLES, type Principal } from '../../../server/core/principal.ts';

describe('rights', () => {
  const as = (role: Principal['role'], publish: string[] = []): Principal => ({ role, publish, subject: 't' });

  it('#hasRole: each role has the rights of the roles before it', () => {
    for (const [i, role] of ROLES.entries()) {
      for (const [j, needed] of ROLES.entries()) expect(hasRole(as(role), needed)).toBe(i >= j);
    }
  });

  it('#canChat and #canPublish(chat): operator and above, whatever the publish patterns', () => {
    expect(canChat(as('viewer'))).toBe(false);
    expect(canPublish(as('viewer', ['>']), 'chat')).toBe(false);
    for (const role of ['operator', 'publisher', 'admin'] as const) {
      expect(canChat(as(role))).toBe(true);
      expect(canPublish(as(role), 'chat')).toBe(true);
    }
  });

  it('#canPublish: publishers only where a pattern matches', () => {
    const feeder = as('publisher', ['ticks.>', 'bars.*.1m']);
    expect(canPublish(feeder, 'ticks.AAPL')).toBe(true);
    expect(canPublish(feeder, 'ticks.AAPL.l2')).toBe(true);
    expect(canPublish(feeder, 'ticks')).toBe(false); // `>` needs one more token
    expect(canPublish(feeder, 'bars.AAPL.1m')).toBe(true);
    expect(canPublish(feeder, 'bars.AAPL.5m')).toBe(false);
    expect(canPublish(feeder, 'bars.AAPL.1m.x')).toBe(false);
    expect(canPublish(feeder, 'fills')).toBe(false);
    expect(canPublish(as('publisher'), 'ticks.AAPL')).toBe(false); // no patterns, no topics
  });

  it('#canPublish: patterns give viewers and operators nothing; admins publish anywhere', () => {
    expect(canPublish(as('viewer', ['>']), 'ticks.AAPL')).toBe(false);
    expect(canPublish(as('operator', ['>']), 'ticks.AAPL')).toBe(false);
    expect(canPublish(as('admin'), 'ticks.AAPL')).toBe(true);
    expect(canPublish(as('admin'), 'fills')).toBe(true);
  });

  it('#checkPublish names what is wrong: a bad topic, $sys, or the missing right', () => {
    expect(checkPublish('ticks.AAPL', as('admin'))).toBe('ticks.AAPL');
    expect(() => checkPublish('a..b', as('admin'))).toThrow(expect.objectContaining({ code: 'bad_topic' }));
    expect(() => checkPublish('$sys.stats', as('admin'))).toThrow(expect.objectContaining({ code: 'forbidden', message: expect.stringContaining('$sys') }));
    expect(() => checkPublish('chat', as('viewer'))).toThrow(expect.objectContaining({ code: 'forbidden', message: expect.stringContaining('operator') }));
    expect(() => checkPublish('ticks.AAPL', as('operator'))).toThrow(expect.objectContaining({ code: 'forbidden', message: expect.stringContaining('publisher credential') }));
  });

  it('#checkPublish remembers allowed topics per principal, never what was refused or another principal', () => {
    const publisher = as('publisher', ['ticks.>']);
    for (let i = 0; i < 3; i++) expect(checkPublish('ticks.AAPL', publisher)).toBe('ticks.AAPL');
    expect(() => checkPublish('bars.AAPL', publisher)).toThrow(expect.objectContaining({ code: 'forbidden' }));
    expect(() => checkPublish('bars.AAPL', publisher)).toThrow(expect.objectContaining({ code: 'forbidden' }));
    expect(() => checkPublish('ticks.AAPL', as('publisher', ['bars.>']))).toThrow(expect.objectContaining({ code: 'forbidden' }));
    expect(() => checkPublish(42, publisher)).toThrow(expect.objectContaining({ code: 'bad_topic' }));
    // Past the cache's bound it starts over, and still answers right.
    for (let i = 0; i < 1500; i++) expect(checkPublish(`ticks.S${i}`, publisher)).toBe(`ticks.S${i}`);
    expect(checkPublish('ticks.AAPL', publisher)).toBe('ticks.AAPL');
  });
});
