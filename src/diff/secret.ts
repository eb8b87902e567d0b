import { posix } from 'node:path';
import { classifyFile } from '../repo/index.js';

/** PEM and OpenSSH private keys, whatever generated them (privkey.xml, sslkey.xml, a plain file). */
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

export interface SecretSubject {
  readonly source?: string;
  readonly data: Buffer;
  readonly sha256: string;
  readonly mode: number;
}

/**
 * A judge of whether a file's content must never be shown (only its hash):
 *  - its source is a .crypt generator (plain or template: secret.env.crypt, x.genshi.crypt),
 *    as the build's record names it;
 *  - it holds a private key (generated keys are written as .crypt or plain files; both match);
 *  - the build recorded no source and the file is not world-readable (0600, 0640, …): without a
 *    record nothing says where it came from, so the mode decides.
 * Each source name is classified once and each content searched once (thousands of hosts share them).
 */
export function secretJudge(): (f: SecretSubject) => boolean {
  const bySource = new Map<string, boolean>();
  const byContent = new Map<string, boolean>();
  const encryptedSource = (source: string) => {
    let v = bySource.get(source);
    if (v === undefined) {
      const kind = classifyFile(posix.basename(posix.dirname(source)), posix.basename(source));
      v = kind !== null && kind !== 'ignored' && kind.kind.includes('crypt');
      bySource.set(source, v);
    }
    return v;
  };
  const privateKey = (f: SecretSubject) => {
    let v = byContent.get(f.sha256);
    if (v === undefined) {
      v = PRIVATE_KEY.test(f.data.toString('latin1'));
      byContent.set(f.sha256, v);
    }
    return v;
  };
  return (f) => (f.source ? encryptedSource(f.source) : (f.mode & 0o004) === 0) || privateKey(f);
}
