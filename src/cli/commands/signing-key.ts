import { createPublicKey } from 'node:crypto';
import { resolve } from 'node:path';
import { BinderyError } from '../../errors.js';
import { loadSigningKey } from '../../emit/index.js';
import { writeFileAtomic } from '../../fsutil/index.js';
import { extendKeyChain, keyChainFile, keyFingerprint, readKeyChain } from '../../protocol/rotation.js';
import { stringOpt, type Command } from '../command.js';
import { readOptionFile } from './common.js';

const USAGE = 'signing-key rotate --signing-key current.pem --new-key new.pem';

/**
 * `bindery signing-key rotate`: the current signing key signs a record announcing the new one,
 * appended to the chain leading to the current key and written beside the new key. Builds signed by the new key carry the chain, and every fetch
 * still pinned to an older key follows it (docs/client.md, "Rotating the signing key").
 */
export const signingKeyRotateCommand: Command = {
  name: 'signing-key rotate',
  summary: 'announce a new build signing key, signed by the current one, in the key rotation chain',
  usage: USAGE,
  options: {
    'signing-key': { type: 'string', valueName: 'file', description: 'the key builds are signed with now (PKCS#8 PEM)', default: '$BINDERY_SIGNING_KEY' },
    'new-key': { type: 'string', valueName: 'file', description: 'the new key (its private or public PEM; only the public half is recorded) (required)' },
    chain: { type: 'string', valueName: 'file', description: 'the chain leading to the current key', default: '<current key>.chain.json when it exists' },
    out: { type: 'string', valueName: 'file', description: 'where to write the extended chain', default: '<new key>.chain.json, where the build picks it up' },
  },
  async run(ctx) {
    const need = (name: string) => {
      const v = stringOpt(ctx, name);
      if (!v) throw new BinderyError('USAGE', `missing --${name}`, {}, `usage: bindery ${USAGE}`);
      return v;
    };
    const currentPath = stringOpt(ctx, 'signing-key');
    const current = loadSigningKey({ path: currentPath });
    const newPath = need('new-key');
    let newKeyPem: string;
    try {
      // The new key's private or public PEM: only its public half goes into the record.
      newKeyPem = createPublicKey(readOptionFile(newPath, 'new signing key')).export({ type: 'spki', format: 'pem' }).toString();
    } catch (e) {
      if (e instanceof BinderyError) throw e;
      throw new BinderyError('USAGE', 'the new signing key is not a PEM key', { file: newPath }, 'make one with: openssl genpkey -algorithm ed25519 -out new-signing-key.pem');
    }
    const given = stringOpt(ctx, 'chain');
    if (!given && !currentPath) throw new BinderyError('USAGE', 'with the signing key in $BINDERY_SIGNING_KEY, give --chain (the chain leading to it, if any) and --out', {}, `usage: bindery ${USAGE} [--chain FILE] [--out FILE]`);
    const chain = extendKeyChain(readKeyChain(resolve(given ?? keyChainFile(currentPath!))), current.privateKey, newKeyPem, new Date());
    const chainFile = resolve(stringOpt(ctx, 'out') ?? keyChainFile(newPath));
    writeFileAtomic(chainFile, JSON.stringify(chain, null, 2) + '\n', 0o644);
    const from = keyFingerprint(current.publicKeyPem);
    const to = keyFingerprint(newKeyPem);
    ctx.io.info(`${chainFile}: ${chain.length} rotation${chain.length === 1 ? '' : 's'}; key ${from.slice(0, 16)}… now hands over to ${to.slice(0, 16)}…`);
    ctx.io.info('next: build with the new key, which carries this chain in every build head (hosts pinned to any earlier key follow it); the old key can then be retired');
    ctx.io.result({ ok: true, chain: chainFile, rotations: chain.length, previousKey: from, newKey: to });
    return 0;
  },
};
