/**
 * A network namespace of its own joined to the test's by a veth pair, for tests that need a real
 * link to break or impair (partition, packet loss). Needs root and `ip` (iproute2), `nft`
 * (nftables) for loss; fails loudly, naming the step, without them. Names carry the test
 * process's pid, so parallel test files never share one.
 */
import { execFileSync } from 'node:child_process';

export interface VethNamespace {
  /** The namespace's name, for `ip netns exec <name> ...`. */
  name: string;
  /** The root end's interface (stays in the test's namespace). */
  hostIf: string;
  /** The namespace end's interface. */
  nsIf: string;
  /** The root end's addresses (the first is its primary). */
  hostAddrs: string[];
  /** The namespace end's address. */
  nsAddr: string;
  /** Run `ip` inside the namespace. */
  nsIp(...args: string[]): string;
  /** Run `nft` inside the namespace (its rules see only this namespace's packets). */
  nft(...args: string[]): string;
  /** Delete the pair and the namespace (idempotent). */
  remove(): void;
}

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 }).toString();

const attempt = (fn: () => unknown) => {
  try {
    fn();
  } catch {
    // already gone
  }
};

/**
 * Create namespace `<tag><pid>` with a veth pair on `subnet` (a /29 given as its first three
 * octets and a base, e.g. `10.213.8.0`): the namespace end gets .2, the root end .1 and any
 * `extraHostAddrs` count of further addresses (.3, .4, ...), so a test can tell connections
 * apart by their source address.
 *
 * @example
 * const ns = createVethNamespace('thpart', '10.213.7.0');
 * spawn('ip', ['netns', 'exec', ns.name, 'redis-server', '--bind', ns.nsAddr]);
 * ns.nsIp('link', 'set', ns.nsIf, 'down'); // partition
 */
export function createVethNamespace(tag: string, subnet: string, extraHostAddrs = 0): VethNamespace {
  const id = process.pid % 100_000;
  const base = subnet.split('.').slice(0, 3).join('.');
  const first = Number(subnet.split('.')[3]);
  const name = `${tag}${id}`;
  const hostIf = `${tag.slice(0, 4)}${id}a`;
  const nsIf = `${tag.slice(0, 4)}${id}b`;
  const hostAddrs = [`${base}.${first + 1}`, ...Array.from({ length: extraHostAddrs }, (_, i) => `${base}.${first + 3 + i}`)];
  const nsAddr = `${base}.${first + 2}`;
  const nsIp = (...args: string[]) => run('ip', ['netns', 'exec', name, 'ip', ...args]);
  const nft = (...args: string[]) => run('ip', ['netns', 'exec', name, 'nft', ...args]);
  const remove = () => {
    attempt(() => run('ip', ['link', 'del', hostIf])); // deletes both ends
    attempt(() => run('ip', ['netns', 'del', name]));
  };
  remove();
  const steps: [string, () => unknown][] = [
    ['ip netns add', () => run('ip', ['netns', 'add', name])],
    ['ip link add type veth', () => run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf])],
    ['ip link set netns (moving a veth end into the namespace)', () => run('ip', ['link', 'set', nsIf, 'netns', name])],
    ['ip addr add (root end)', () => hostAddrs.forEach((a) => run('ip', ['addr', 'add', `${a}/29`, 'dev', hostIf]))],
    ['ip addr add (namespace end)', () => nsIp('addr', 'add', `${nsAddr}/29`, 'dev', nsIf)],
    ['ip link set up', () => (run('ip', ['link', 'set', hostIf, 'up']), nsIp('link', 'set', nsIf, 'up'), nsIp('link', 'set', 'lo', 'up'))],
  ];
  for (const [what, step] of steps) {
    try {
      step();
    } catch (err) {
      remove();
      const e = err as { stderr?: Buffer; message: string };
      throw new Error(`this test needs root and network namespaces with veth pairs (iproute2); "${what}" failed: ${e.stderr?.toString().trim() || e.message}`);
    }
  }
  return { name, hostIf, nsIf, hostAddrs, nsAddr, nsIp, nft, remove };
}
