/** The message of the ConfigError `loadConfig` throws for `env`; fails the test if it loads. */
import { expect } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config.ts';

export function configError(env: Record<string, string | undefined>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('config loaded');
}
