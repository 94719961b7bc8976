/**
 * Admission refusals that explain themselves: each 4xx the edge answers for origin, host,
 * credentials or limits goes out as the JSON error body and is logged at `warn` with the client
 * address, the status, the code and the setting to change. Logging is rate-limited per setting,
 * so a flood of refused requests costs one line per setting per interval (the rest are counted).
 */
import type { Context } from 'hono';
import type { Logger } from 'pino';
import { ERROR_CODES, type ErrorCode } from '../../protocol/errors.ts';
import { apiError, type Env } from './http-util.ts';
import { rateLimitedLog } from './socket-limits.ts';

/** Send a refusal and log it; `setting` names what an operator would change. */
export type Refuse = <E extends Env>(c: Context<E>, code: ErrorCode, setting: string, message: string) => Response;

/**
 * @example
 * const refuse = createRefusals(log);
 * return refuse(c, 'forbidden', 'ALLOWED_HOSTS', `host ${host} is not served here (ALLOWED_HOSTS)`);
 */
export function createRefusals(log: Pick<Logger, 'warn'>, intervalMs = 10_000): Refuse {
  const perSetting = new Map<string, ReturnType<typeof rateLimitedLog>>();
  return (c, code, setting, message) => {
    let warn = perSetting.get(setting);
    if (!warn) perSetting.set(setting, (warn = rateLimitedLog(log, intervalMs)));
    const { address, peer } = c.get('client');
    warn(
      { remote: address, ...(peer !== address && { peer }), status: ERROR_CODES[code], code, setting, method: c.req.method, path: c.req.path },
      `refused: ${message}`,
    );
    return apiError(c, code, message);
  };
}

/** The setting behind a 401: ANONYMOUS_ROLE when no credential was sent, else the credential settings. */
export const credentialSetting = (token: string | undefined): string => (token === undefined ? 'ANONYMOUS_ROLE' : 'HUB_PUBLISH_KEY, API_KEYS or JWT_SECRET');
