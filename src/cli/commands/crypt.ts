import { readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { findUp, writeOutputFile } from './common.js';
import { BinderyError } from '../../errors.js';
import { loadConfig } from '../../config/index.js';
import { decryptAny, decryptWith, encryptText, isEncrypted, passphraseNamed, passphrases, type Passphrase } from '../../secrets/index.js';
import { boolOpt, stringOpt, type Command } from '../command.js';

/** `bindery crypt encrypt|decrypt <file>`: bcfg2-crypt's Cfg mode. */
export const cryptCommand: Command = {
  name: 'crypt',
  summary: 'encrypt a Cfg file to <file>.crypt, or decrypt a .crypt file back',
  usage: 'crypt encrypt|decrypt <file> [--passphrase NAME] [--remove] [--config bcfg2.conf]',
  options: {
    passphrase: { type: 'string', short: 'p', valueName: 'name', description: 'the [encryption] passphrase to use', default: 'the only one (encrypt), the one that fits (decrypt)' },
    remove: { type: 'boolean', description: 'remove the source file afterwards' },
    config: { type: 'string', short: 'C', valueName: 'file', description: 'bcfg2.conf holding the passphrases', default: 'the nearest bcfg2.conf above the file' },
  },
  async run(ctx) {
    const [action, file, ...extra] = ctx.positionals;
    if ((action !== 'encrypt' && action !== 'decrypt') || !file || extra.length > 0) {
      throw new BinderyError('USAGE', 'expected: crypt encrypt|decrypt <file>', {}, 'run bindery crypt --help');
    }
    const src = resolve(file);
    const configFile = stringOpt(ctx, 'config') ?? configAbove(dirname(src));
    const list = passphrases(loadConfig(configFile), process.env);
    const name = stringOpt(ctx, 'passphrase');
    let chosen: Passphrase | undefined;
    try {
      chosen = name === undefined ? undefined : passphraseNamed(list, name);
    } catch (e) {
      throw new BinderyError('USAGE', (e as BinderyError).message, { file: configFile ?? undefined }, (e as BinderyError).hint);
    }
    let data: Buffer;
    try {
      data = readFileSync(src);
    } catch (e) {
      throw new BinderyError('USAGE', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file });
    }

    let dest: string;
    let out: Buffer;
    let used: string;
    if (action === 'encrypt') {
      if (isEncrypted(data)) throw new BinderyError('CRYPT', 'the file is already encrypted', { file }, 'decrypt it first, or encrypt the plaintext file');
      const p = chosen ?? onlyPassphrase(list, configFile);
      dest = src + '.crypt';
      out = Buffer.from(encryptText(data, p.secret));
      used = p.name;
    } else {
      dest = plaintextName(src, file);
      out = chosen ? decryptWith(data, chosen.secret, { file }) : bruteForce(data, list, file);
      used = chosen?.name ?? 'the only one that fits';
    }
    // The plaintext of a secret is only for its owner; ciphertext keeps the source's mode.
    writeOutputFile(dest, out, action === 'decrypt' ? 0o600 : statSync(src).mode & 0o777, 'CRYPT');
    if (boolOpt(ctx, 'remove')) rmSync(src);
    ctx.io.info(`${action === 'encrypt' ? 'encrypted' : 'decrypted'} ${file} → ${dest} (passphrase: ${used})${boolOpt(ctx, 'remove') ? `, removed ${file}` : ''}`);
    ctx.io.result({ ok: true, action, source: src, written: dest, passphrase: action === 'encrypt' ? used : chosen?.name ?? null, removed: boolOpt(ctx, 'remove') });
    return 0;
  },
};

/**
 * Decrypting without --passphrase: the file may be text or binary, so first ask for a UTF-8
 * plaintext. A wrong passphrase passes the padding check about once in 256 tries and then
 * yields garbage, which is almost never UTF-8: asking for any plaintext at once would make
 * a text file "ambiguous" that often. Only when no text comes out is binary accepted.
 */
function bruteForce(data: Buffer, list: readonly Passphrase[], file: string): Buffer {
  try {
    return decryptAny(data, list, { requireUtf8: true, file });
  } catch {
    return decryptAny(data, list, { requireUtf8: false, file });
  }
}

/** With no --passphrase, encryption needs exactly one passphrase (as bcfg2-crypt). */
function onlyPassphrase(list: readonly Passphrase[], configFile: string | null): Passphrase {
  if (list.length === 1) return list[0]!;
  const where = configFile ?? 'the environment (no bcfg2.conf found)';
  if (list.length === 0) {
    throw new BinderyError('CONFIG', `no passphrases in ${where}`, {}, 'add "name = secret" to [encryption] in bcfg2.conf, or set BINDERY_PASSPHRASE_<NAME>');
  }
  throw new BinderyError('USAGE', `several passphrases (${list.map((p) => p.name).join(', ')}): say which one to encrypt with`, {}, 'add --passphrase NAME');
}

/** `x.crypt` → `x`; `x.crypt.genshi` → `x.genshi` (the encrypted-template spellings). */
function plaintextName(src: string, shown: string): string {
  const b = basename(src);
  const m = /^(.+)\.crypt(\.(?:genshi|cheetah|liquid|jinja2))?$/.exec(b);
  if (!m) throw new BinderyError('USAGE', `cannot tell the plaintext file name of ${shown}`, { file: shown }, 'encrypted Cfg files end with .crypt (or .crypt.genshi, .crypt.cheetah, .crypt.liquid)');
  return join(dirname(src), m[1]! + (m[2] ?? ''));
}

/**
 * The bcfg2.conf for a file: the one at the root of its repository (the directory holding
 * Metadata/), else the nearest one above. Only a file counts: a repository that manages
 * /etc/bcfg2.conf has a directory Cfg/etc/bcfg2.conf/, whose files are not this configuration.
 */
function configAbove(dir: string): string | null {
  const from = findUp(dir, 'Metadata', 'directory') ?? dir;
  const found = findUp(from, 'bcfg2.conf', 'file');
  return found === null ? null : join(found, 'bcfg2.conf');
}
