/** Tiny DOM helpers. */

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

/** Element by id; throws if the page markup lacks it. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`dashboard: #${id} missing from index.html`);
  return node as T;
}

/** Set text only when it changed (avoids layout work on hot paths). */
export function setText(node: Element, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

/** Replace the up/down/flat class of a node. */
export function setSign(node: Element, sign: 'up' | 'down' | 'flat'): void {
  if (node.classList.contains(sign)) return;
  node.classList.remove('up', 'down', 'flat');
  node.classList.add(sign);
}
