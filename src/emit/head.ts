/**
 * The build head (protocol/head.ts) of a build being published: serial, time, revision, the
 * signing key's rotation chain and the Merkle root over its hosts' records, signed beside the
 * manifest. The server serves it with each host's proof; it never needs the key.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HEAD_FORMAT, hostsTree, merkleRoot, type BuildHead } from '../protocol/head.js';
import type { Manifest } from '../protocol/format.js';
import { HEAD, SIGNATURE_SUFFIX } from '../protocol/layout.js';
import { signBytes } from './sign.js';
import { FILE_MODE, type EmitTarget } from './store.js';

/** Write `<build dir>/head.json` and its signature for `manifest`. */
export function writeHead(dir: string, target: EmitTarget, manifest: Manifest): void {
  const chain = target.key.keyChain;
  const head: BuildHead = {
    format: HEAD_FORMAT,
    serial: manifest.serial,
    builtAt: manifest.builtAt,
    revision: manifest.revision,
    keyId: target.keyId,
    hostsRoot: merkleRoot(hostsTree(manifest.hosts).levels),
    ...(chain.length ? { keyChain: chain } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(head));
  writeFileSync(join(dir, HEAD), bytes, { flag: 'wx', mode: FILE_MODE });
  writeFileSync(join(dir, HEAD + SIGNATURE_SUFFIX), signBytes(bytes, target.key), { flag: 'wx', mode: FILE_MODE });
}
