import { readFileSync, statSync } from 'node:fs';
import { BinderyError } from '../errors.js';
import type { AuthType } from '../types.js';
import { parseIni } from './ini.js';

export { parseIni } from './ini.js';

/**
 * bcfg2.conf, the options bindery reads. Every option has a default so a
 * repository alone builds.
 */
export interface Config {
  /** File it was read from, if any (for error messages). */
  readonly file: string | null;
  readonly server: { readonly repository: string | null; readonly ignoreFiles: readonly string[] };
  readonly components: { readonly encoding: string };
  readonly mdata: { readonly owner: string; readonly group: string; readonly mode: string; readonly extra: Readonly<Record<string, string>> };
  readonly cfg: { readonly validation: boolean; readonly validationTimeoutSeconds: number; readonly category: string | null; readonly passphrase: string | null };
  readonly encryption: {
    readonly algorithm: string;
    readonly laxDecryption: boolean;
    /** name → passphrase, in file order (names kept as written; see passphrases()). */
    readonly passphrases: readonly { readonly name: string; readonly secret: string }[];
  };
  readonly sshkeys: { readonly category: string | null; readonly passphrase: string | null };
  /** [properties] automatch: XMLMatch every Properties file unless its root says automatch="false". */
  readonly properties: { readonly automatch: boolean };
  readonly communication: {
    readonly password: string | null;
    readonly authentication: AuthType;
    readonly ca: string | null;
    readonly key: string | null;
    readonly certificate: string | null;
  };
  /** Every section and option as read, for stages that need something uncommon. */
  readonly raw: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

const DEFAULT_IGNORE_FILES = ['*~', '*#', '.#*', '*.swp', '*.swpx', '.*.swx', 'SCCS', '.svn', '4913', '.gitignore'];

/** ConfigParser.getboolean's words; anything else is an error naming the option. */
function bool(v: string | undefined, dflt: boolean, option: string, file: string): boolean {
  if (v === undefined) return dflt;
  const s = v.trim().toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(s)) return true;
  if (['0', 'no', 'false', 'off'].includes(s)) return false;
  throw new BinderyError('CONFIG', `${option} = ${v} is not a boolean`, { file }, 'use one of 1, yes, true, on or 0, no, false, off');
}

/** The sections bindery reads: a value there that does not interpolate is an error. */
const READ_SECTIONS = new Set(['server', 'components', 'mdata', 'cfg', 'encryption', 'sshkeys', 'communication', 'properties']);

const AUTH_TYPES: readonly AuthType[] = ['cert', 'cert+password', 'bootstrap'];
const ENCRYPTION_OPTIONS = new Set(['algorithm', 'lax_decryption', 'decrypt']);

/** Build a Config from parsed INI sections; `file` is used in error messages. */
export function configFromIni(raw: Record<string, Record<string, string>>, file: string | null): Config {
  const loc = { file: file ?? 'bcfg2.conf' };
  const s = (sec: string, key: string) => raw[sec]?.[key];
  const auth = (s('communication', 'authentication') ?? 'cert+password').trim();
  if (!AUTH_TYPES.includes(auth as AuthType)) {
    throw new BinderyError('CONFIG', `[communication] authentication = ${auth} is not one of ${AUTH_TYPES.join(', ')}`, loc);
  }
  const algorithm = (s('encryption', 'algorithm') ?? 'aes_256_cbc').toLowerCase().replaceAll('-', '_');
  if (algorithm !== 'aes_256_cbc') {
    throw new BinderyError('CONFIG', `[encryption] algorithm = ${algorithm} is not supported`, loc, 'bindery supports aes_256_cbc only (the Bcfg2 default, compatible with openssl enc)');
  }
  const lax = s('encryption', 'lax_decryption') !== undefined
    ? bool(s('encryption', 'lax_decryption'), false, '[encryption] lax_decryption', loc.file)
    : s('encryption', 'decrypt') !== undefined && s('encryption', 'decrypt')!.trim() !== 'strict';
  const passphrases = Object.entries(raw.encryption ?? {})
    .filter(([k]) => !ENCRYPTION_OPTIONS.has(k))
    .map(([name, secret]) => ({ name, secret }));
  const timeout = Number(s('cfg', 'validation_timeout') ?? '30');
  const mdataExtra: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw.mdata ?? {})) if (!['owner', 'group', 'mode'].includes(k)) mdataExtra[k] = v;
  return {
    file,
    server: {
      repository: s('server', 'repository') ?? null,
      ignoreFiles: s('server', 'ignore_files') ? s('server', 'ignore_files')!.split(/[\s,]+/).filter(Boolean) : DEFAULT_IGNORE_FILES,
    },
    components: { encoding: s('components', 'encoding') ?? 'UTF-8' },
    mdata: { owner: s('mdata', 'owner') ?? 'root', group: s('mdata', 'group') ?? 'root', mode: s('mdata', 'mode') ?? '0644', extra: mdataExtra },
    cfg: {
      validation: bool(s('cfg', 'validation'), true, '[cfg] validation', loc.file),
      validationTimeoutSeconds: Number.isFinite(timeout) && timeout > 0 ? timeout : 30,
      category: s('cfg', 'category') ?? null,
      passphrase: s('cfg', 'passphrase') ?? null,
    },
    encryption: { algorithm, laxDecryption: lax, passphrases },
    sshkeys: { category: s('sshkeys', 'category') ?? null, passphrase: s('sshkeys', 'passphrase') ?? null },
    properties: { automatch: bool(s('properties', 'automatch'), false, '[properties] automatch', loc.file) },
    communication: {
      password: s('communication', 'password') ?? null,
      authentication: auth as AuthType,
      ca: s('communication', 'ca') ?? null,
      key: s('communication', 'key') ?? null,
      certificate: s('communication', 'certificate') ?? null,
    },
    raw,
  };
}

/** Read bcfg2.conf (or defaults when path is null). Environment passphrases are added by the secrets stage. */
export function loadConfig(path: string | null): Config {
  if (path === null) return configFromIni({}, null);
  let text: string;
  try {
    if (statSync(path).isDirectory()) {
      throw new BinderyError('CONFIG', 'the config path is a directory, not a bcfg2.conf file', { file: path }, 'pass the bcfg2.conf file itself with --config');
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof BinderyError) throw e;
    throw new BinderyError('CONFIG', `cannot read config: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: path }, 'check the --config path');
  }
  return configFromIni(parseIni(text, path, { needed: (section) => READ_SECTIONS.has(section) || section.startsWith('sslca') }), path);
}
