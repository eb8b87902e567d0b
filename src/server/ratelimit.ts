/**
 * Failed logins per source address in a fixed window. An address with too many failures gets
 * 429 for every request until its window ends. Memory is bounded: at most `maxTracked`
 * addresses are remembered (expired ones are dropped first, then the oldest).
 */
export interface RateLimitOptions {
  /** Failures allowed per window (default 20). */
  readonly maxFailures: number;
  /** Window length in milliseconds (default 60 s). */
  readonly windowMs: number;
  readonly maxTracked?: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = { maxFailures: 20, windowMs: 60_000 };

export interface RateLimiter {
  /** Seconds until the address may try again, or 0 when it is not limited. */
  retryAfter(address: string, now?: number): number;
  recordFailure(address: string, now?: number): void;
}

export function createRateLimiter(opts: RateLimitOptions): RateLimiter {
  const maxTracked = opts.maxTracked ?? 100_000;
  const entries = new Map<string, { failures: number; resetAt: number }>();
  const prune = (now: number) => {
    for (const [addr, e] of entries) if (e.resetAt <= now) entries.delete(addr);
    // Map iteration is insertion order: the first entries are the oldest windows.
    for (const addr of entries.keys()) {
      if (entries.size < maxTracked) break;
      entries.delete(addr);
    }
  };
  return {
    retryAfter(address, now = Date.now()) {
      const e = entries.get(address);
      if (!e || e.resetAt <= now || e.failures < opts.maxFailures) return 0;
      return Math.max(1, Math.ceil((e.resetAt - now) / 1000));
    },
    recordFailure(address, now = Date.now()) {
      const e = entries.get(address);
      if (e && e.resetAt > now) {
        e.failures++;
        return;
      }
      entries.delete(address);
      if (entries.size >= maxTracked) prune(now);
      entries.set(address, { failures: 1, resetAt: now + opts.windowMs });
    },
  };
}
