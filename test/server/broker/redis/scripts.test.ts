import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as scripts from '../../../../server/broker/redis/scripts.ts';

const DIR = new URL('../../../../server/broker/redis/scripts/', import.meta.url);
const loaded = Object.values(scripts).filter((v): v is scripts.Script => typeof v === 'object' && v !== null && 'sha' in v);

describe('Redis scripts loader', () => {
  it('exports every .lua file of scripts/ once, with the SHA1 of what EVAL sends', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.lua')).map((f) => f.slice(0, -4)).sort();
    expect(loaded.map((s) => s.name).sort()).toEqual(files);
    for (const s of loaded) expect(s.sha).toBe(createHash('sha1').update(s.source).digest('hex'));
  });

  it('prepends the helpers a script names in its `-- uses:` line, and only those', () => {
    expect(scripts.PUBLISH.source).toMatch(/local function now_ms\(\)[\s\S]*local function trim_age\([\s\S]*HINCRBY/);
    expect(scripts.HEARTBEAT.source).toContain('local function now_ms()');
    expect(scripts.HEARTBEAT.source).not.toContain('trim_age');
    expect(scripts.CLAIM.source).not.toContain('now_ms');
  });

  it('defines every helper a script calls', () => {
    for (const s of loaded) {
      for (const fn of ['now_ms', 'trim_age']) {
        if (new RegExp(`\\b${fn}\\(`).test(s.source)) expect(s.source, `${s.name} calls ${fn}`).toContain(`local function ${fn}(`);
      }
    }
  });
});
