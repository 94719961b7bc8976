/**
 * docs/operations.md shows deploy/nginx.conf and deploy/haproxy.cfg verbatim: every fenced
 * `nginx` or `haproxy` block must be byte-identical to its file, so the docs cannot drift from
 * the configs test/deploy/nginx.test.ts and haproxy.test.ts run.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { deployFile } from '../support/proxies.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The contents of every fenced block whose info string is `lang`, each ending with a newline. */
function fencedBlocks(markdown: string, lang: string): string[] {
  const blocks: string[] = [];
  const re = new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm');
  for (const m of markdown.matchAll(re)) blocks.push(m[1]);
  return blocks;
}

describe('docs/operations.md', () => {
  const doc = readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8');

  it('shows deploy/nginx.conf verbatim, in every nginx block', () => {
    const blocks = fencedBlocks(doc, 'nginx');
    expect(blocks.length).toBeGreaterThanOrEqual(1);
    for (const b of blocks) expect(b).toBe(deployFile('nginx'));
  });

  it('shows deploy/haproxy.cfg verbatim, in every haproxy block', () => {
    const blocks = fencedBlocks(doc, 'haproxy');
    expect(blocks.length).toBeGreaterThanOrEqual(1);
    for (const b of blocks) expect(b).toBe(deployFile('haproxy'));
  });
});
