/** The benchmark's command line: the ingest forms a run may be narrowed to. */
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../bench/lib/cli.ts';

describe('parseArgs', () => {
  it('runs every ingest form by default, a listed subset in the canonical order, and refuses an unknown one', () => {
    expect(parseArgs([]).ingestForms).toEqual(['single', 'batch', 'http', 'http-batch']);
    expect(parseArgs(['--ingest-forms=batch,single']).ingestForms).toEqual(['single', 'batch']);
    expect(() => parseArgs(['--ingest-forms=single,pubs'])).toThrow('unknown ingest form pubs (have single, batch, http, http-batch)');
  });
});
