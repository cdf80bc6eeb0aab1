/**
 * Time as an input: code that waits (Cloudron tasks, the health gate) reads the time and sleeps
 * through a {@link Clock}, so tests pass a virtual one and check backoff and deadlines without
 * waiting.
 */

/** Where a waiting loop reads the time and sleeps. */
export interface Clock {
  now(): number;
  /** Sleeps `ms`; rejects early when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Wall-clock time and real timers. */
export const realClock: Clock = { now: () => Date.now(), sleep };

/** Sleeps `ms`, waking early (with a rejection: the signal's reason when it is an Error) when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error("aborted");
}
