/**
 * issue 16's targets, judged from the scenarios of one invocation (every ratio against peers
 * measured in the same run). A target whose inputs did not run is `n/a`.
 */
import { equalRate, type IngestResult } from './ingest.ts';
import type { ManyTopicsResult } from './many-topics.ts';
import type { StormResult } from './storm.ts';
import type { IdleScaleResult } from './idle-scale.ts';

export interface ScenarioInputs {
  ingest: IngestResult | null;
  topics: ManyTopicsResult | null;
  storm: StormResult | null;
  idleScale: IdleScaleResult | null;
}

interface Row {
  target: string;
  measured: string;
  pass: boolean | null;
}

const x = (v: number | null | undefined, d = 2): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));

export function scenarioTargets({ ingest, topics, storm, idleScale }: ScenarioInputs): Row[] {
  const rows: Row[] = [];
  for (const p of [...new Set(ingest?.runs.map((r) => r.publishers) ?? [])]) {
    const runs = ingest!.runs.filter((r) => r.publishers === p);
    const find = (server: string, form: string) => runs.find((r) => r.server === server && r.form === form);
    const floor = find('json', 'single');
    const single = find('tickhub', 'single');
    const batch = find('tickhub', 'batch');
    const vs = floor && single ? equalRate(single, floor) : null;
    rows.push({ target: `ingest, ${p} publisher(s): tickhub pub ≥ 0.85× the JSON hub's messages per CPU-s`, measured: vs ? `${x(vs.cpuRatio)}× at ${vs.rate} msg/s` : '–', pass: vs ? vs.cpuRatio >= 0.85 : null });
    rows.push({ target: `ingest, ${p} publisher(s): tickhub pub p99 ≤ 2× the JSON hub's`, measured: vs ? `${x(vs.p99Ratio)}×` : '–', pass: vs ? vs.p99Ratio <= 2 : null });
    const b = batch && single ? equalRate(batch, single) : null;
    rows.push({ target: `ingest, ${p} publisher(s): batch ≥ 3× pub's messages per CPU-s`, measured: b ? `${x(b.cpuRatio)}× at ${b.rate} msg/s` : '–', pass: b ? b.cpuRatio >= 3 : null });
  }
  if (topics) {
    const tick = topics.runs.find((r) => r.server === 'tickhub');
    const ceil = topics.runs.find((r) => r.server === 'ceiling');
    const rate = Math.max(...(tick?.steps ?? []).filter((s) => s.sustained && ceil?.steps.some((c) => c.sustained && c.rate === s.rate)).map((s) => s.rate));
    const t = tick?.steps.find((s) => s.rate === rate);
    const c = ceil?.steps.find((s) => s.rate === rate);
    const ratio = t && c ? t.deliveriesPerCpuSec / c.deliveriesPerCpuSec : null;
    rows.push({ target: 'many topics: ≥ 0.8× the ceiling\'s deliveries per CPU-s (highest rate both sustained)', measured: ratio === null ? '–' : `${x(ratio)}× at ${rate} msg/s`, pass: ratio === null ? null : ratio >= 0.8 });
  }
  if (storm) {
    const ratio = storm.resumeMs !== null && storm.ceilingAcceptMs ? storm.resumeMs / storm.ceilingAcceptMs : null;
    rows.push({ target: `reconnect storm: all ${storm.clients} resumed, nothing lost or duplicated`, measured: `${storm.caughtUp}/${storm.clients}, lost ${storm.lost}, duplicated ${storm.duplicated}, missing ${storm.missing}`, pass: storm.caughtUp === storm.clients && storm.lost + storm.duplicated + storm.missing === 0 });
    const floor = storm.backoffFloorMs === null ? '' : `; the last client first tried ${x(storm.backoffFloorMs, 0)} ms after the hub listened`;
    rows.push({ target: 'reconnect storm: ≤ 1.5× the time the ceiling takes to accept as many handshakes', measured: ratio === null ? '–' : `${x(ratio)}× (${x(storm.resumeMs, 0)} vs ${x(storm.ceilingAcceptMs, 0)} ms${floor})`, pass: ratio === null ? null : ratio <= 1.5 });
  }
  const idle = idleScale?.runs.find((r) => r.server === 'tickhub' && !r.error);
  const asked = idleScale?.scaledDown ? ` (${idleScale.scaledDown.requested} asked; the open-files limit allowed no more)` : '';
  if (idleScale) rows.push({ target: `${idleScale.connections} idle connections${asked}: ≤ 10 KB RSS each`, measured: idle ? `${x(idle.bytesPerConnection / 1024)} KB` : '–', pass: idle ? idle.bytesPerConnection / 1024 <= 10 : null });
  return rows;
}

export function renderScenarioTargets(inputs: ScenarioInputs): string {
  const rows = scenarioTargets(inputs);
  if (!rows.length) return '';
  const verdict = (p: boolean | null) => (p === null ? 'n/a' : p ? 'PASS' : 'FAIL');
  return ['## Scenario targets (issue 16)', '', '| target | measured | result |', '|---|---|---|', ...rows.map((r) => `| ${r.target} | ${r.measured} | ${verdict(r.pass)} |`), ''].join('\n');
}
