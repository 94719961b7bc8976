/** Transient notices (stream resets, connection events), newest on top. */
import { el } from './dom.ts';

const TTL_MS = 12_000;
const MAX_VISIBLE = 5;

export class Notices {
  private hiddenCount = 0;
  private readonly more: HTMLElement;

  constructor(private readonly root: HTMLElement) {
    this.more = el('div', { class: 'notice more', hidden: '' });
    root.append(this.more);
  }

  show(text: string, level: 'warn' | 'info' | 'error' = 'warn', title?: string): void {
    const close = el('button', { class: 'notice-close', type: 'button', 'aria-label': 'Dismiss', title: 'Dismiss' });
    const node = el('div', { class: `notice ${level}`, 'data-testid': 'notice', role: 'status' }, el('span', { class: 'notice-text' }, text), close);
    if (title) node.title = title;
    close.addEventListener('click', () => node.remove());
    this.root.insertBefore(node, this.root.firstChild);
    setTimeout(() => node.remove(), TTL_MS);
    // Collapse bursts (a hub restart resets every topic at once) into "+N more".
    const visible = [...this.root.querySelectorAll<HTMLElement>('.notice:not(.more)')];
    for (const extra of visible.slice(MAX_VISIBLE)) {
      extra.remove();
      this.hiddenCount++;
    }
    if (this.hiddenCount > 0) {
      this.more.hidden = false;
      this.more.textContent = `+${this.hiddenCount} more`;
      clearTimeout(this.moreTimer);
      this.moreTimer = setTimeout(() => {
        this.hiddenCount = 0;
        this.more.hidden = true;
      }, TTL_MS);
    }
  }

  private moreTimer: ReturnType<typeof setTimeout> | undefined;
}
