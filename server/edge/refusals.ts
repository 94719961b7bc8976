/**
 * Admission refusals that explain themselves: each 4xx the edge answers for origin, host,
 * credentials or limits goes out as the JSON error body and is logged at `warn` with the client
 * address, the status, the code and the setting to change. Logging is rate-limited per setting,
 * so a flood of refused requests costs one line per setting per interval (the rest are counted).
 */
import type { Context } from 'hono';
import type { Logger } from 'pino';
import { ERROR_CODES, type ErrorCode } from '../../protocol/errors.ts';
import type { ClientView } from './client-address.ts';
import { apiError, type Env } from './http-util.ts';
import { rateLimitedLog } from './socket-limits.ts';

/** Send a refusal and log it; `setting` names what an operator would change. */
export type Refuse = <E extends Env>(c: Context<E>, code: ErrorCode, setting: string, message: string) => Response;

/** The request a refusal answers, as its log line names it. */
export interface RefusedRequest {
  client: ClientView;
  method: string;
  /** Without the query. */
  path: string;
}

/** Log a refusal (the caller sends it); one of these serves every path into the edge. */
export type LogRefusal = (req: RefusedRequest, code: ErrorCode, setting: string, message: string) => void;

/**
 * @example
 * const logRefusal = createRefusalLog(log);
 * logRefusal({ client, method: 'POST', path }, 'rate_limited', 'RATE_LIMIT', message);
 */
export function createRefusalLog(log: Pick<Logger, 'warn'>, intervalMs = 10_000): LogRefusal {
  const perSetting = new Map<string, ReturnType<typeof rateLimitedLog>>();
  return ({ client, method, path }, code, setting, message) => {
    let warn = perSetting.get(setting);
    if (!warn) perSetting.set(setting, (warn = rateLimitedLog(log, intervalMs)));
    const { address, peer } = client;
    warn({ remote: address, ...(peer !== address && { peer }), status: ERROR_CODES[code], code, setting, method, path }, `refused: ${message}`);
  };
}

/**
 * The Hono form: log, then answer with the error body.
 *
 * @example
 * const refuse = createRefusals(createRefusalLog(log));
 * return refuse(c, 'forbidden', 'ALLOWED_HOSTS', `host ${host} is not served here (ALLOWED_HOSTS)`);
 */
export function createRefusals(logRefusal: LogRefusal): Refuse {
  return (c, code, setting, message) => {
    logRefusal({ client: c.get('client'), method: c.req.method, path: c.req.path }, code, setting, message);
    return apiError(c, code, message);
  };
}

/** The setting behind a 401: ANONYMOUS_ROLE when no credential was sent, else the credential settings. */
export const credentialSetting = (token: string | undefined): string => (token === undefined ? 'ANONYMOUS_ROLE' : 'HUB_PUBLISH_KEY, API_KEYS or JWT_SECRET');
