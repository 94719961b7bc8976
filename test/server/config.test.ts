import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { certDir, makeCertPair } from '../support/tls-certs.ts';
import { ConfigError, defaultPolicies, defaultRetention, loadConfig } from '../../server/config.ts';

describe('config', () => {
  it('has documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 5000,
      host: '127.0.0.1',
      publishKey: null,
      anonymousRole: 'operator',
      maxPayload: 64 * 1024,
      outboxLimitBytes: 1024 * 1024,
      flushWindowMs: 0,
      maxSubscriptionsPerConnection: 256,
      heartbeatMs: 15_000,
      drainMs: 10_000,
      redisUrl: null,
      trustedProxies: [],
      publicUrl: null,
      jwtExpiryWarningMs: 30_000,
      jwtPublicKey: null,
      jwtJwks: null,
    });
    expect(c.retention).toEqual(defaultRetention);
    expect(c.overflowPolicies).toEqual(defaultPolicies);
  });

  it('reads JWT_EXPIRY_WARNING_MS and refuses values outside 0-86400000, naming it', () => {
    expect(loadConfig({ JWT_EXPIRY_WARNING_MS: '1000' }).jwtExpiryWarningMs).toBe(1000);
    expect(() => loadConfig({ JWT_EXPIRY_WARNING_MS: '-1' })).toThrow(/JWT_EXPIRY_WARNING_MS/);
    expect(() => loadConfig({ JWT_EXPIRY_WARNING_MS: 'soon' })).toThrow(/JWT_EXPIRY_WARNING_MS/);
  });

  it('reads FLUSH_WINDOW_MS and refuses values outside 0-1000', () => {
    expect(loadConfig({ FLUSH_WINDOW_MS: '2' }).flushWindowMs).toBe(2);
    for (const bad of ['-1', '1001', '1.5', 'soon']) {
      expect(() => loadConfig({ FLUSH_WINDOW_MS: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ FLUSH_WINDOW_MS: bad })).toThrow(/FLUSH_WINDOW_MS/);
    }
  });

  it('reads COMPRESSION (off by default) and COMPRESSION_MIN_BYTES (256), naming them when invalid', () => {
    expect(loadConfig({})).toMatchObject({ compression: 'off', compressionMinBytes: 256 });
    expect(loadConfig({ COMPRESSION: 'shared', COMPRESSION_MIN_BYTES: '0' })).toMatchObject({ compression: 'shared', compressionMinBytes: 0 });
    expect(() => loadConfig({ COMPRESSION: 'deflate' })).toThrow(/COMPRESSION/);
    for (const bad of ['-1', '1.5', 'big']) expect(() => loadConfig({ COMPRESSION_MIN_BYTES: bad })).toThrow(/COMPRESSION_MIN_BYTES/);
  });

  it('reads DRAIN_MS (0 = close all at once) and refuses values outside 0-600000', () => {
    expect(loadConfig({ DRAIN_MS: '0' }).drainMs).toBe(0);
    expect(loadConfig({ DRAIN_MS: '30000' }).drainMs).toBe(30_000);
    for (const bad of ['-1', '600001', '2.5', 'later']) expect(() => loadConfig({ DRAIN_MS: bad })).toThrow(/DRAIN_MS/);
  });

  it('puts custom rules before the defaults, and names every bad setting at once', () => {
    const c = loadConfig({ HISTORY: 'orders.>=50/60', OVERFLOW_POLICIES: 'orders.>=conflate' });
    expect(c.retention[0]).toEqual({ pattern: 'orders.>', maxMessages: 50, maxAgeSeconds: 60 });
    expect(c.overflowPolicies[0]).toEqual({ pattern: 'orders.>', policy: 'conflate' });
    let message = '';
    try {
      loadConfig({ HISTORY: 'orders.>=fifty', OVERFLOW_POLICIES: 'x=drop', PORT: '70000' });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/HISTORY/);
    expect(message).toMatch(/OVERFLOW_POLICIES/);
    expect(message).toMatch(/PORT/);
  });

  it('reads TRUSTED_PROXIES (addresses, CIDRs, keywords) and names it for a bad entry', () => {
    expect(loadConfig({ TRUSTED_PROXIES: 'loopback, 10.0.0.0/8,192.0.2.7, fd00::/8,uniquelocal' }).trustedProxies).toEqual(['loopback', '10.0.0.0/8', '192.0.2.7', 'fd00::/8', 'uniquelocal']);
    for (const bad of ['nginx.internal', '10.0.0.0/33', '300.1.1.1', 'loopback,everyone']) {
      expect(() => loadConfig({ TRUSTED_PROXIES: bad }), bad).toThrow(/TRUSTED_PROXIES: .*(invalid|address|range)/);
    }
  });

  it('reads PUBLIC_URL as an origin and refuses anything else, naming it', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://Hub.Example.com:8443' }).publicUrl).toBe('https://hub.example.com:8443');
    expect(loadConfig({ PUBLIC_URL: 'https://hub.example.com:443/' }).publicUrl).toBe('https://hub.example.com');
    for (const bad of ['hub.example.com', 'ftp://hub.example.com', 'https://hub.example.com/app', 'https://u:p@hub.example.com', 'https://hub.example.com?x=1']) {
      expect(() => loadConfig({ PUBLIC_URL: bad }), bad).toThrow(/PUBLIC_URL: .*is not an origin like https:\/\/hub\.example\.com/);
    }
  });

  describe('TLS_CERT_FILE / TLS_KEY_FILE', () => {
    const dir = certDir();
    afterAll(() => dir.remove());

    it('are off by default and read as paths when both name a matching pair', () => {
      expect(loadConfig({})).toMatchObject({ tlsCertFile: null, tlsKeyFile: null });
      const pair = makeCertPair(dir.dir, 'config');
      expect(loadConfig({ TLS_CERT_FILE: pair.certFile, TLS_KEY_FILE: pair.keyFile })).toMatchObject({ tlsCertFile: pair.certFile, tlsKeyFile: pair.keyFile });
    });

    it('must be set together', () => {
      expect(() => loadConfig({ TLS_CERT_FILE: '/x.crt' })).toThrow(/TLS_KEY_FILE: must be set with TLS_CERT_FILE \(both or neither\)/);
      expect(() => loadConfig({ TLS_KEY_FILE: '/x.key' })).toThrow(/TLS_CERT_FILE: must be set with TLS_KEY_FILE/);
    });

    it('refuses unreadable files and a key that does not match, naming the variable', () => {
      const a = makeCertPair(dir.dir, 'a');
      const b = makeCertPair(dir.dir, 'b');
      expect(() => loadConfig({ TLS_CERT_FILE: path.join(dir.dir, 'missing.crt'), TLS_KEY_FILE: a.keyFile })).toThrow(/TLS_CERT_FILE: cannot read .*missing\.crt: ENOENT/);
      expect(() => loadConfig({ TLS_CERT_FILE: a.certFile, TLS_KEY_FILE: path.join(dir.dir, 'missing.key') })).toThrow(/TLS_KEY_FILE: cannot read/);
      expect(() => loadConfig({ TLS_CERT_FILE: a.certFile, TLS_KEY_FILE: b.keyFile })).toThrow(/TLS_CERT_FILE .* and TLS_KEY_FILE .* are not a usable certificate and key: .*mismatch/);
      expect(() => loadConfig({ TLS_CERT_FILE: a.keyFile, TLS_KEY_FILE: a.keyFile })).toThrow(/are not a usable certificate and key/);
    });
  });
});
