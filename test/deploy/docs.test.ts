/**
 * docs/operations.md shows the configs in deploy/ verbatim: every fenced `nginx` or `haproxy`
 * block must be byte-identical to one of its files (nginx.conf, nginx-tls.conf; haproxy.cfg,
 * haproxy-tls.cfg) and each file must be shown, so the docs cannot drift from the configs the
 * tests in test/deploy/ run. The TLS files must also proxy exactly as the plain ones do, so a
 * change to one (say for SSE) cannot leave the other behind.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { deployFile, type ProxyConfig } from '../support/proxies.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The contents of every fenced block whose info string is `lang`, each ending with a newline. */
function fencedBlocks(markdown: string, lang: string): string[] {
  const blocks: string[] = [];
  const re = new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm');
  for (const m of markdown.matchAll(re)) blocks.push(m[1]);
  return blocks;
}

/**
 * The lines from the one starting with `open` (after indentation) to the end of its block: its
 * closing brace (nginx), or up to the next line indented as little (HAProxy), or the end of the file.
 */
function section(text: string, open: string): string {
  const lines = text.split('\n');
  const first = lines.findIndex((l) => l.trimStart().startsWith(open));
  if (first < 0) throw new Error(`no line starting with "${open}"`);
  const indent = lines[first].length - lines[first].trimStart().length;
  const next = lines.findIndex((l, i) => i > first && /\S/.test(l) && l.length - l.trimStart().length <= indent);
  const end = next < 0 ? lines.length : lines[next].trim().startsWith('}') ? next + 1 : next;
  return lines.slice(first, end).join('\n');
}

describe('docs/operations.md', () => {
  const doc = readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8');
  const cases: Array<[string, ProxyConfig[]]> = [
    ['nginx', ['nginx', 'nginx-tls']],
    ['haproxy', ['haproxy', 'haproxy-tls']],
  ];

  for (const [lang, configs] of cases) {
    it(`shows ${configs.join(' and ')} verbatim: every ${lang} block is one of them, each is shown`, () => {
      const blocks = fencedBlocks(doc, lang);
      const files = configs.map((c) => deployFile(c));
      for (const b of blocks) expect(files.some((f) => f === b), `a ${lang} block in docs/operations.md matches no deploy/ file:\n${b.slice(0, 400)}`).toBe(true);
      for (const [i, f] of files.entries()) expect(blocks.includes(f), `docs/operations.md does not show the ${configs[i]} config verbatim`).toBe(true);
    });
  }
});

describe('the TLS configs in deploy/', () => {
  it('nginx-tls.conf proxies exactly as nginx.conf does (same upstream, same location block)', () => {
    for (const open of ['upstream tickhub {', 'location / {', 'events {', 'map $http_upgrade']) {
      expect(section(deployFile('nginx'), open).split('\n').length).toBeGreaterThan(3);
      expect(section(deployFile('nginx-tls'), open)).toBe(section(deployFile('nginx'), open));
    }
  });

  it('haproxy-tls.cfg balances exactly as haproxy.cfg does (same defaults and backend)', () => {
    for (const open of ['defaults', 'backend hubs']) {
      expect(section(deployFile('haproxy'), open).split('\n').length).toBeGreaterThan(3);
      expect(section(deployFile('haproxy-tls'), open)).toBe(section(deployFile('haproxy'), open));
    }
  });
});
