import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../protocol/crc32.ts';

describe('crc32', () => {
  it('gives the CRC-32 check value and agrees with node:zlib', () => {
    expect(crc32('123456789')).toBe(0xcbf43926);
    expect(crc32('')).toBe(0);
    const zlibCrc = (zlib as unknown as { crc32?: (s: string) => number }).crc32;
    expect(typeof zlibCrc).toBe('function'); // Node 20.15+; the table implementation is for browsers
    for (const text of ['100:3|99.5:10', '3280.01:1.277,3280.09:1.642|3279.91:0.439', 'x'.repeat(5000), '1e-7:0.00001']) {
      expect(crc32(text)).toBe(zlibCrc!(text));
    }
  });

  it('refuses text that is not ASCII (no encoding to agree on)', () => {
    expect(() => crc32('1€')).toThrow(/ASCII/);
  });
});
