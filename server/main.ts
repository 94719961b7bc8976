/** `npm run hub`: read config from the environment, start the hub, stop gracefully on signals. */
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './observability/log.ts';
import { startHub } from './server.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`tickhub: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const running = await startHub(config, { log });
  // SIGTERM (rolling restart): drain over DRAIN_MS so clients move to other nodes a few at a time.
  // SIGINT (Ctrl-C): close at once.
  const stop = (signal: string, how: () => Promise<void>, graceMs: number) => {
    log.info({ signal }, 'shutting down');
    how().then(() => process.exit(0));
    setTimeout(() => process.exit(1), graceMs).unref();
  };
  process.once('SIGINT', () => stop('SIGINT', () => running.close(), 5000));
  process.once('SIGTERM', () => stop('SIGTERM', () => running.drain(), config.drainMs + 5000));
  // SIGHUP with TLS_CERT_FILE / TLS_KEY_FILE: re-read both and serve the new pair to new
  // connections; open ones stay. A bad pair is logged (reloadTls) and the old one kept.
  if (config.tlsCertFile !== null) {
    process.on('SIGHUP', () => {
      log.info({ signal: 'SIGHUP' }, 'reloading TLS certificate');
      running.reloadTls().catch(() => {});
    });
  }
  // Last: whoever waits for this line may signal at once.
  log.info({ http: running.httpUrl, ws: running.wsUrl, publishing: config.publishKey ? 'key required' : 'disabled (no HUB_PUBLISH_KEY)' }, 'tickhub listening');
}

main().catch((err) => {
  console.error('tickhub: failed to start:', err);
  process.exit(1);
});
