import { posix } from 'node:path';
import { classifyFile } from '../repo/index.js';

/** PEM and OpenSSH private keys, whatever generated them (privkey.xml, sslkey.xml, a plain file). */
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * Whether a file's content must never be shown (only its hash):
 *  - its source is a .crypt generator (plain or template: secret.env.crypt, x.genshi.crypt),
 *    as the build's record names it;
 *  - it holds a private key (generated keys are written as .crypt or plain files; both match);
 *  - the build recorded no source and the file is not world-readable (0600, 0640, …): without a
 *    record nothing says where it came from, so the mode decides.
 */
export function isSecret(f: { readonly source?: string; readonly data: Buffer; readonly mode: number }): boolean {
  if (f.source) {
    const kind = classifyFile(posix.basename(posix.dirname(f.source)), posix.basename(f.source));
    if (kind !== null && kind !== 'ignored' && kind.kind.includes('crypt')) return true;
  } else if ((f.mode & 0o004) === 0) {
    return true;
  }
  return PRIVATE_KEY.test(f.data.toString('latin1'));
}
