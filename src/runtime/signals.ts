/**
 * Runs `fn` with a signal that aborts when either `a` or `b` does (with that one's reason), and unhooks
 * the listeners afterwards: long-lived signals (an engine's) must not collect one listener per call.
 */
export async function withEitherSignal<T>(a: AbortSignal, b: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  if (b === undefined || b === a) return fn(a);
  const linked = new AbortController();
  const fromA = (): void => linked.abort(a.reason);
  const fromB = (): void => linked.abort(b.reason);
  if (a.aborted) fromA();
  else if (b.aborted) fromB();
  a.addEventListener('abort', fromA, { once: true });
  b.addEventListener('abort', fromB, { once: true });
  try {
    return await fn(linked.signal);
  } finally {
    a.removeEventListener('abort', fromA);
    b.removeEventListener('abort', fromB);
  }
}
