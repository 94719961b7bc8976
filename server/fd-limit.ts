/**
 * The default for MAX_SOCKETS: the process's open-file soft limit minus a reserve for what is
 * not a client socket (Redis, served files, stdio, Node's own descriptors), so accepting clients
 * can never use up the descriptors the hub itself needs (EMFILE).
 */
import { readFileSync } from 'node:fs';

/** Used when /proc/self/limits is unreadable (not Linux): fits under the common soft limit of 1024. */
export const FALLBACK_MAX_SOCKETS = 900;

/** The `Max open files` soft limit from /proc/self/limits text; Infinity for unlimited, null if absent. */
export function openFilesSoftLimit(limits: string): number | null {
  const m = /^Max open files\s+(\S+)/m.exec(limits);
  if (!m) return null;
  if (m[1] === 'unlimited') return Infinity;
  const n = Number(m[1]);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/**
 * Sockets the hub may hold open: the soft limit less a reserve of a tenth of it (the reserve at
 * least 48 and at most 1024 descriptors).
 *
 * @example
 * defaultMaxSockets('Max open files 1024 4096 files') // 922
 */
export function defaultMaxSockets(limits?: string): number {
  let text = limits;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return FALLBACK_MAX_SOCKETS;
    }
  }
  const soft = openFilesSoftLimit(text);
  if (soft === null) return FALLBACK_MAX_SOCKETS;
  const capped = Math.min(soft, 10_000_000);
  const reserve = Math.min(1024, Math.max(48, Math.floor(capped / 10)));
  return Math.max(16, capped - reserve);
}
