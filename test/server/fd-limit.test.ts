import { describe, expect, it } from 'vitest';
import { FALLBACK_MAX_SOCKETS, defaultMaxSockets, openFilesSoftLimit } from '../../server/fd-limit.ts';
import { ConfigError, loadConfig } from '../../server/config.ts';

describe('defaultMaxSockets', () => {
  it('leaves a reserve under the open-file soft limit', () => {
    expect(openFilesSoftLimit('Max open files            1024                 4096                 files\n')).toBe(1024);
    expect(defaultMaxSockets('Max open files            1024                 4096                 files\n')).toBe(922);
    expect(defaultMaxSockets('Max open files            256                  256                  files\n')).toBe(208);
    expect(defaultMaxSockets('Max open files            unlimited            unlimited            files\n')).toBe(10_000_000 - 1024);
  });

  it('falls back to a safe fixed value when the limit is unreadable', () => {
    expect(defaultMaxSockets('no such line')).toBe(FALLBACK_MAX_SOCKETS);
  });

  it('config refuses a headers timeout longer than the request timeout, naming both', () => {
    expect(() => loadConfig({ HEADERS_TIMEOUT_MS: '5000', REQUEST_TIMEOUT_MS: '1000' })).toThrow(ConfigError);
    expect(() => loadConfig({ HEADERS_TIMEOUT_MS: '5000', REQUEST_TIMEOUT_MS: '1000' })).toThrow(/HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS/);
  });
});
