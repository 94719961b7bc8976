/**
 * Placeholder for the hub's own telemetry (`$sys.stats`): until the full ops panel exists, show
 * whatever the hub publishes there as a flat key/value list.
 */
import { el, setText } from './dom.ts';
import { fmtQty } from './format.ts';
import { invalidate } from './frame.ts';

const MAX_ENTRIES = 40;

function flatten(value: unknown, prefix: string, out: [string, string][]): void {
  if (out.length >= MAX_ENTRIES) return;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    return;
  }
  let text: string;
  if (typeof value === 'number') text = Number.isInteger(value) ? fmtQty(value) : value.toFixed(2);
  else if (Array.isArray(value)) text = `[${value.length}]`;
  else text = String(value);
  out.push([prefix || 'value', text]);
}

export class SysStats {
  private latest: unknown = undefined;
  private readonly nodes = new Map<string, HTMLElement>();
  private readonly render = () => this.apply();

  constructor(
    private readonly list: HTMLElement,
    private readonly placeholder: HTMLElement,
  ) {}

  onStats(data: unknown): void {
    this.latest = data;
    invalidate(this.render);
  }

  reset(): void {
    this.latest = undefined;
    this.nodes.clear();
    this.list.replaceChildren();
    this.placeholder.hidden = false;
  }

  private apply(): void {
    if (this.latest === undefined) return;
    const entries: [string, string][] = [];
    flatten(this.latest, '', entries);
    for (const [k, v] of entries) {
      let node = this.nodes.get(k);
      if (!node) {
        node = el('dd', {});
        this.list.append(el('dt', {}, k), node);
        this.nodes.set(k, node);
      }
      setText(node, v);
    }
    this.placeholder.hidden = entries.length > 0;
  }
}
