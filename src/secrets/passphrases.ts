import { BinderyError, type Location } from '../errors.js';
import type { Config } from '../config/index.js';

export interface Passphrase {
  readonly name: string;
  readonly secret: string;
}

export const ENV_PREFIX = 'BINDERY_PASSPHRASE_';

/**
 * Every passphrase: [encryption] of bcfg2.conf in file order, then BINDERY_PASSPHRASE_<NAME>
 * variables (sorted by name, so the order does not depend on the environment). A variable
 * whose NAME equals a configured name case-insensitively replaces that secret in place;
 * other variables add a passphrase named NAME lower-cased (Bcfg2 1.4 lower-cases names).
 * Empty variables are ignored: CI systems set unavailable secrets to "".
 */
export function passphrases(config: Config, env: NodeJS.ProcessEnv): Passphrase[] {
  const list: Passphrase[] = config.encryption.passphrases.map((p) => ({ name: p.name, secret: p.secret }));
  const fromEnv = Object.keys(env)
    .filter((k) => k.toUpperCase().startsWith(ENV_PREFIX) && k.length > ENV_PREFIX.length && env[k])
    .sort();
  for (const key of fromEnv) {
    const name = key.slice(ENV_PREFIX.length).toLowerCase();
    const secret = env[key]!;
    const i = list.findIndex((p) => p.name.toLowerCase() === name);
    if (i >= 0) list[i] = { name: list[i]!.name, secret };
    else list.push({ name, secret });
  }
  return list;
}

/** The passphrase called `name` (case-insensitive, as Bcfg2 1.4); unknown name is a CRYPT error. */
export function passphraseNamed(list: readonly Passphrase[], name: string, loc: Location = {}): Passphrase {
  const found = list.find((p) => p.name === name) ?? list.find((p) => p.name.toLowerCase() === name.toLowerCase());
  if (found) return found;
  const known = list.length ? `known passphrases: ${list.map((p) => p.name).join(', ')}` : 'no passphrases are configured';
  throw new BinderyError('CRYPT', `unknown passphrase name "${name}" (${known})`, loc, `add "${name} = …" to [encryption] in bcfg2.conf or set ${ENV_PREFIX}${name.toUpperCase()}`);
}

