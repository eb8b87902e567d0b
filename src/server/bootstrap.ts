/**
 * The server's own durable bootstrap state (decision 15 (docs/decisions.md)): one small file per client under
 * `<state>/bootstrap/`. The first password-authenticated download claims the client's one
 * bootstrap run (an exclusive create: of several concurrent first runs exactly one wins, even
 * across server processes) and receives a run token; the run report carrying that token
 * completes it. From then on only the certificate is accepted. Nothing is kept in memory, so a
 * restart changes nothing, and clients.xml is never rewritten.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { secretEquals } from './auth.js';
import { createFileExclusive, writeFileAtomic } from '../fsutil/index.js';

export type BootstrapStatus = 'new' | 'claimed' | 'done';

interface Record {
  readonly client: string;
  readonly status: 'claimed' | 'done';
  /** sha256 of the run token (the token itself is never stored). */
  readonly tokenSha256: string | null;
  readonly claimedAt: string | null;
  readonly completedAt?: string;
}

export interface BootstrapStore {
  status(client: string): BootstrapStatus;
  /** Claim the one bootstrap run; returns its token, or null when another run claimed it first. */
  claim(client: string): string | null;
  /** Does `token` belong to the claimed run? */
  tokenMatches(client: string, token: string): boolean;
  /** The run report arrived: the password is no longer accepted. */
  complete(client: string): void;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function openBootstrapStore(stateDir: string): BootstrapStore {
  const dir = join(stateDir, 'bootstrap');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Client names are host names, but never trust them as file names.
  const file = (client: string) => join(dir, `client-${encodeURIComponent(client)}.json`);
  const read = (client: string): Record | null => {
    try {
      return JSON.parse(readFileSync(file(client), 'utf8')) as Record;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      // An unreadable record must not reopen the password: treat it as used.
      return { client, status: 'done', tokenSha256: null, claimedAt: null };
    }
  };
  return {
    status(client) {
      return read(client)?.status ?? 'new';
    },
    claim(client) {
      const token = randomBytes(32).toString('base64url');
      const record: Record = { client, status: 'claimed', tokenSha256: sha256(token), claimedAt: new Date().toISOString() };
      return createFileExclusive(file(client), JSON.stringify(record) + '\n') ? token : null;
    },
    tokenMatches(client, token) {
      const r = read(client);
      return r?.status === 'claimed' && r.tokenSha256 !== null && secretEquals(sha256(token), r.tokenSha256);
    },
    complete(client) {
      const r = read(client);
      if (r?.status === 'done') return;
      const record: Record = { client, status: 'done', tokenSha256: null, claimedAt: r?.claimedAt ?? null, completedAt: new Date().toISOString() };
      writeFileAtomic(file(client), JSON.stringify(record) + '\n', 0o600);
    },
  };
}
