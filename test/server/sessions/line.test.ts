import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../server/sessions/line.ts';

describe('line mode', () => {
  describe('#parseCommand', () => {
    it('treats lines without a leading slash as chat', () => {
      expect(parseCommand('hello /nick x')).toBeNull();
      expect(parseCommand(' /nick x')).toBeNull();
    });
    it('splits name and argument, case-insensitive name, trimmed argument', () => {
      expect(parseCommand('/nick  alice ')).toEqual({ name: 'nick', arg: 'alice' });
      expect(parseCommand('/WHO')).toEqual({ name: 'who', arg: '' });
      expect(parseCommand('/sub ticks.*')).toEqual({ name: 'sub', arg: 'ticks.*' });
      expect(parseCommand('/')).toEqual({ name: '', arg: '' });
    });
  });
});
