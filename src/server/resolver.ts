/**
 * Reverse DNS for clients whose source address clients.xml does not list (Bcfg2 asks the PTR
 * record for the client's name). A PTR record is whatever the owner of the address block says,
 * so a name counts only when it resolves back to the address (forward-confirmed). Answers are
 * cached: for the forward record's TTL (Node's resolver does not report a PTR record's TTL),
 * capped; a missing name for a short while; a timeout or server failure not at all, and it
 * fails closed (no name, so no access by address).
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { normalizeAddress } from './auth.js';

export interface ResolverOptions {
  /** DNS servers (`host` or `host:port`, `[v6]:port`); default: the system's (/etc/resolv.conf). */
  readonly servers?: readonly string[];
  /** Per query, in milliseconds (default 2000). */
  readonly timeoutMs?: number;
}

export interface ResolvedNames {
  /** Forward-confirmed names, lower-case. */
  readonly names: readonly string[];
  /** What happened, for the decision log: the names seen, or why there are none. */
  readonly note: string;
}

export interface AddressResolver {
  names(address: string): Promise<ResolvedNames>;
}

const MAX_TTL_S = 3600;
const NEGATIVE_TTL_S = 60;
const MAX_CACHED = 10_000;
/** A PTR answer may list many names; confirming each costs a query. */
const MAX_NAMES = 4;

const NO_NAME = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN']);

/** The PTR query name of an address: 4.3.2.1.in-addr.arpa, or the nibbles of an IPv6 address under ip6.arpa. */
function reverseName(address: string): string {
  if (isIP(address) === 4) return address.split('.').reverse().join('.') + '.in-addr.arpa';
  const [head, tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return [...groups.map((g) => g.padStart(4, '0')).join('')].reverse().join('.') + '.ip6.arpa';
}

export function createResolver(opts: ResolverOptions = {}): AddressResolver {
  const dns = new Resolver({ timeout: opts.timeoutMs ?? 2000, tries: 1 });
  if (opts.servers?.length) dns.setServers([...opts.servers]);
  const cache = new Map<string, { answer: ResolvedNames; expires: number }>();
  const inFlight = new Map<string, Promise<ResolvedNames>>();

  /** The name's addresses of the address's family, with the shortest TTL among them. */
  async function forward(name: string, family: number): Promise<{ addresses: string[]; ttl: number }> {
    const records = family === 6 ? await dns.resolve6(name, { ttl: true }) : await dns.resolve4(name, { ttl: true });
    return { addresses: records.map((r) => normalizeAddress(r.address)), ttl: Math.min(...records.map((r) => r.ttl)) };
  }

  async function look(address: string): Promise<{ answer: ResolvedNames; ttl: number }> {
    let ptr: string[];
    try {
      // resolvePtr rather than reverse(): reverse() reports an unreachable server as "not found".
      ptr = await dns.resolvePtr(reverseName(address));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      if (NO_NAME.has(code)) return { answer: { names: [], note: 'no PTR record' }, ttl: NEGATIVE_TTL_S };
      return { answer: { names: [], note: `reverse DNS failed (${code}): refused until it answers` }, ttl: 0 };
    }
    const family = isIP(address);
    const names: string[] = [];
    const unconfirmed: string[] = [];
    let ttl = MAX_TTL_S;
    for (const raw of ptr.slice(0, MAX_NAMES)) {
      const name = raw.toLowerCase().replace(/\.$/, '');
      try {
        const f = await forward(name, family);
        if (f.addresses.includes(address)) {
          names.push(name);
          ttl = Math.min(ttl, f.ttl);
        } else unconfirmed.push(name);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? 'error';
        if (!NO_NAME.has(code)) return { answer: { names: [], note: `forward DNS of ${name} failed (${code}): refused until it answers` }, ttl: 0 };
        unconfirmed.push(name);
      }
    }
    const note = [names.length ? `DNS name ${names.join(', ')}` : '', unconfirmed.length ? `PTR ${unconfirmed.join(', ')} does not resolve back to the address` : ''].filter(Boolean).join('; ');
    return { answer: { names, note: note || 'no PTR record' }, ttl: names.length ? ttl : NEGATIVE_TTL_S };
  }

  return {
    names(address) {
      const now = Date.now();
      const hit = cache.get(address);
      if (hit && hit.expires > now) return Promise.resolve(hit.answer);
      if (hit) cache.delete(address);
      let pending = inFlight.get(address);
      if (!pending) {
        pending = look(address).catch((e: unknown) => ({ answer: { names: [], note: `reverse DNS failed (${(e as NodeJS.ErrnoException).code ?? "error"})` }, ttl: 0 })).then(({ answer, ttl }) => {
          inFlight.delete(address);
          if (ttl > 0) {
            // Insertion order is age: drop the oldest when full.
            if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
            cache.set(address, { answer, expires: Date.now() + Math.min(ttl, MAX_TTL_S) * 1000 });
          }
          return answer;
        });
        inFlight.set(address, pending);
      }
      return pending;
    },
  };
}
