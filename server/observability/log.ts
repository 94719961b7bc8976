/** Structured logs (pino): JSON lines with levels; one line per connection open and close, none per message. */
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'tickhub' } });
}
