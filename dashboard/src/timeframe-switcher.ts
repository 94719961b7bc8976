/** Timeframe buttons of the candle chart, with keys 1-5 (ignored while typing in a field). */
import { el } from './dom.ts';
import { TIMEFRAMES, timeframeForKey, type Timeframe } from './timeframes.ts';

export class TimeframeSwitcher {
  private readonly buttons = new Map<Timeframe, HTMLButtonElement>();

  constructor(
    root: HTMLElement,
    private readonly onPick: (tf: Timeframe) => void,
  ) {
    TIMEFRAMES.forEach((tf, i) => {
      const btn = el('button', { type: 'button', class: 'tf', 'data-tf': tf, 'aria-pressed': 'false', title: `${tf} bars (key ${i + 1})` }, tf);
      btn.addEventListener('click', () => this.onPick(tf));
      this.buttons.set(tf, btn);
      root.append(btn);
    });
    document.addEventListener('keydown', (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || isTyping(ev.target)) return;
      const tf = timeframeForKey(ev.key);
      if (!tf) return;
      ev.preventDefault();
      this.onPick(tf);
    });
  }

  /** Show `tf` as the selected one. */
  setSelected(tf: Timeframe): void {
    for (const [t, btn] of this.buttons) {
      btn.classList.toggle('active', t === tf);
      btn.setAttribute('aria-pressed', String(t === tf));
    }
  }
}

function isTyping(target: EventTarget | null): boolean {
  return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}
