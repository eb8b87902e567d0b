import { BinderyError, asBinderyError, type Diagnostic } from '../errors.js';
import type { Config } from '../config/index.js';
import type { RepoModel } from '../repo/index.js';
import { decryptWith, passphraseNamed, type Passphrase } from '../secrets/index.js';
import { parsePropertyXml, type PNode } from './tree.js';

/** A failure as plain data (it crosses to bind workers); thrown again where a template reads the file. */
export interface PlainError {
  readonly code: BinderyError['code'];
  readonly message: string;
  readonly location: BinderyError['location'];
  readonly hint?: string;
}

/** One file of Properties/, read and decrypted once per build. */
export interface PropertyFile {
  /** The key templates use: the path below Properties/, e.g. ntp.xml. */
  readonly name: string;
  /** Repo-relative, e.g. Properties/ntp.xml. */
  readonly file: string;
  /** The file's text as written (Bcfg2's `.data`). */
  readonly data: string;
  /** The root element, encrypted elements decrypted; null when the file is unusable (see error). */
  readonly root: PNode | null;
  /** Templates see XMLMatch's result instead of the file (root automatch=, else [properties] automatch). */
  readonly automatch: boolean;
  readonly error?: PlainError;
}

export interface PropertiesModel {
  /** Sorted by name. */
  readonly files: readonly PropertyFile[];
  readonly diagnostics: readonly Diagnostic[];
}

const PROPERTIES_DIR = 'Properties';

const plain = (e: BinderyError): PlainError => ({ code: e.code, message: e.message, location: e.location, ...(e.hint ? { hint: e.hint } : {}) });

/**
 * Decrypt every element with encrypted="<passphrase name>" in place, as Bcfg2 does when it loads
 * the file. Plaintext that is not ASCII stays encrypted (Bcfg2 1.4 cannot store it and skips
 * it); a failure fails the file unless lax decryption is on (the root's lax_decryption=, else
 * [encryption] lax_decryption), which leaves the element encrypted with a warning.
 */
function decrypt(root: PNode, file: string, list: readonly Passphrase[], config: Config, diagnostics: Diagnostic[]): PNode {
  const lax = (root.attrib.lax_decryption ?? String(config.encryption.laxDecryption)).toLowerCase() === 'true';
  const walk = (el: PNode): PNode => {
    const children = el.children.map(walk);
    const name = el.attrib.encrypted;
    if (name === undefined || el.text === null || el.text.trim() === '') return { ...el, children };
    const at = { file, line: el.line };
    let plainText: string;
    try {
      const p = passphraseNamed(list, name, at);
      plainText = decryptWith(el.text, p.secret, at).toString('latin1');
    } catch (e) {
      const err = asBinderyError(e, 'CRYPT', at);
      if (!lax) throw new BinderyError('CRYPT', `cannot decrypt <${el.tag} encrypted="${name}">: ${err.message}`, at, err.hint);
      diagnostics.push({ code: 'properties-decrypt-failed', message: `<${el.tag} encrypted="${name}"> left encrypted (lax_decryption): ${err.message}`, ...at });
      return { ...el, children };
    }
    if (!/^[\x00-\x7f]*$/.test(plainText)) {
      diagnostics.push({ code: 'properties-decrypt-not-ascii', message: `<${el.tag} encrypted="${name}"> decrypts to text that is not ASCII; left encrypted, as Bcfg2 leaves it`, ...at });
      return { ...el, children };
    }
    return { ...el, text: plainText, children };
  };
  return walk(root);
}

/** Read Properties/ once (from the files the repository scan read): parse, decrypt, and note which files are automatched. */
export function loadProperties(repo: Pick<RepoModel, 'pluginFiles'>, config: Config, list: readonly Passphrase[]): PropertiesModel {
  const diagnostics: Diagnostic[] = [];
  const files: PropertyFile[] = [];
  for (const f of [...repo.pluginFiles.values()].sort((x, y) => (x.rel < y.rel ? -1 : 1))) {
    if (!f.rel.startsWith(`${PROPERTIES_DIR}/`)) continue;
    if (/\.(json|ya?ml)$/.test(f.rel)) diagnostics.push({ code: 'properties-format-unsupported', message: 'JSON and YAML Properties files are not supported; templates do not see this file', file: f.rel });
    if (!f.rel.endsWith('.xml')) continue;
    const name = f.rel.slice(PROPERTIES_DIR.length + 1);
    const data = f.data.toString('utf8');
    try {
      const root = decrypt(parsePropertyXml(data, f.rel), f.rel, list, config, diagnostics);
      const automatch = (root.attrib.automatch ?? String(config.properties.automatch)).toLowerCase() === 'true';
      files.push({ name, file: f.rel, data, root, automatch });
    } catch (e) {
      const err = asBinderyError(e, 'XML', { file: f.rel });
      diagnostics.push({ code: 'properties-unusable', message: `${err.message}; templates that read ${name} fail to bind`, ...err.location });
      files.push({ name, file: f.rel, data, root: null, automatch: false, error: plain(err) });
    }
  }
  return { files, diagnostics };
}
