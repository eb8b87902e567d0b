/**
 * Failed logins per source in a fixed window. A source with too many failures gets 429 for
 * every request until its window ends. A source is an IPv4 address, or an IPv6 /64: one host
 * is handed a whole /64, so counting single IPv6 addresses would give it 2^64 tries.
 *
 * Memory is bounded (`maxTracked` sources) without letting a flood of new sources reset an
 * attacker: expired windows go first, then the source with the fewest failures (oldest first).
 * A limited source is never evicted; when every tracked source is limited, the untracked ones
 * share one window, so the table staying full of attackers blocks newcomers rather than
 * forgetting anyone.
 */
import { isIP } from 'node:net';

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

/** What is counted for an address: itself (IPv4), or its /64 written as `2001:db8:0:1::/64`. */
export function limitKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const [head, tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':') + '::/64';
}

interface Window {
  failures: number;
  readonly resetAt: number;
}

export function createRateLimiter(opts: RateLimitOptions): RateLimiter {
  const maxTracked = Math.max(1, opts.maxTracked ?? 100_000);
  const max = opts.maxFailures;
  // Every window has the same length, so insertion order is expiry order: expired ones are at the front.
  const windows = new Map<string, Window>();
  // tiers[n]: sources with n failures, still below the limit, oldest first (the eviction order).
  const tiers = Array.from({ length: Math.max(1, max) }, () => new Set<string>());
  let shared: Window | null = null;
  const forget = (key: string, w: Window) => {
    windows.delete(key);
    tiers[w.failures]?.delete(key);
  };
  const makeRoom = (now: number): boolean => {
    for (const [key, w] of windows) {
      if (w.resetAt > now || windows.size < maxTracked) break;
      forget(key, w);
    }
    if (windows.size < maxTracked) return true;
    for (const tier of tiers) {
      for (const key of tier) {
        forget(key, windows.get(key)!);
        return true;
      }
    }
    return false;
  };
  const seconds = (w: Window | null | undefined, now: number) => (w && w.resetAt > now && w.failures >= max ? Math.max(1, Math.ceil((w.resetAt - now) / 1000)) : 0);
  return {
    retryAfter(address, now = Date.now()) {
      const w = windows.get(limitKey(address));
      return w ? seconds(w, now) : seconds(shared, now);
    },
    recordFailure(address, now = Date.now()) {
      const key = limitKey(address);
      const w = windows.get(key);
      if (w && w.resetAt > now) {
        tiers[w.failures]?.delete(key);
        w.failures++;
        tiers[w.failures]?.add(key);
        return;
      }
      if (w) forget(key, w);
      if (windows.size >= maxTracked && !makeRoom(now)) {
        if (!shared || shared.resetAt <= now) shared = { failures: 0, resetAt: now + opts.windowMs };
        shared.failures++;
        return;
      }
      const fresh = { failures: 1, resetAt: now + opts.windowMs };
      windows.set(key, fresh);
      tiers[1]?.add(key);
    },
  };
}
