/**
 * One requestAnimationFrame loop for the whole page: message handlers only update stores and
 * mark work dirty; each registered task runs at most once per frame, however many messages arrived.
 */

type Task = () => void;

const queued = new Set<Task>();
const afterFrame = new Set<(now: number) => void>();
let scheduled = false;

/** Run `task` on the next animation frame (once, however often it is invalidated before then). */
export function invalidate(task: Task): void {
  queued.add(task);
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(flush);
  }
}

/** Called after every frame that ran tasks (e.g. to sample render latency). */
export function onFrame(fn: (now: number) => void): void {
  afterFrame.add(fn);
}

function flush(): void {
  scheduled = false;
  const tasks = [...queued];
  queued.clear();
  for (const task of tasks) {
    try {
      task();
    } catch (err) {
      console.error('tickhub dashboard: render task failed', err);
    }
  }
  const now = Date.now();
  for (const fn of afterFrame) fn(now);
}
