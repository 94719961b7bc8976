/** The ingest phase's plan: which server, form and publisher count each sweep runs. */
import { describe, expect, it } from 'vitest';
import { ingestPlan } from '../../../bench/lib/ingest.ts';
import { serverDef } from '../../../bench/lib/targets.ts';

describe('ingestPlan', () => {
  it('runs only the listed forms a server has, for each publisher count', () => {
    const defs = [serverDef('json'), serverDef('tickhub')];
    const plan = ingestPlan(defs, [1, 4], ['batch', 'http']).map(({ def, form, publishers }) => `${def.name} ${form} ${publishers}`);
    expect(plan).toEqual(['json batch 1', 'tickhub batch 1', 'tickhub http 1', 'json batch 4', 'tickhub batch 4', 'tickhub http 4']);
  });
});
