/** How long this thread's event loop went without a turn while some work ran. */

/** The longest gap between ticks of a 5 ms timer on this thread while `work` runs. */
export async function worstGapWhile<T>(work: () => Promise<T>): Promise<{ result: T; worstMs: number }> {
  let last = performance.now();
  let worstMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worstMs = Math.max(worstMs, now - last);
    last = now;
  }, 5);
  try {
    const result = await work();
    return { result, worstMs };
  } finally {
    clearInterval(timer);
  }
}
