/**
 * deploy/haproxy.cfg, the config docs/operations.md shows, run by a real HAProxy in front of
 * three real hub nodes on one Redis (test/support/behind-proxy.ts).
 */
import { describeBehindProxy } from '../support/behind-proxy.ts';

describeBehindProxy('haproxy');
