import { BinderyError } from '../errors.js';
import type { RepoModel } from '../repo/index.js';

/**
 * Files whose lines may be quoted in a code frame: XML and template sources, which are
 * plaintext in the repository. Never an encrypted file (its plaintext is secret and its
 * ciphertext says nothing), nor bcfg2.conf (it holds passphrases), nor key material.
 */
const QUOTABLE = /\.(?:xml|genshi|cheetah|liquid|jinja2|genshi_include|cheetah_include|liquid_include)$/;

/** The text of line `line` of a repository file the scan read, or undefined. */
export function sourceLine(repo: RepoModel, file: string, line: number): string | undefined {
  if (!QUOTABLE.test(file) || file.includes('.crypt')) return undefined;
  const f = repo.files.get(file) ?? repo.pluginFiles.get(file);
  if (!f) return undefined;
  const text = f.data.toString('utf8').split(/\r?\n/)[line - 1];
  return text === undefined ? undefined : text.length > 200 ? text.slice(0, 200) + '…' : text;
}

/** Run `fn`; a BinderyError it throws at a line of a scanned file gets that line's text. */
export function withSourceLines<T>(repo: RepoModel, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const loc = e instanceof BinderyError ? e.location : undefined;
    const text = loc?.file && loc.line && loc.lineText === undefined ? sourceLine(repo, loc.file, loc.line) : undefined;
    throw text === undefined ? e : (e as BinderyError).at({ lineText: text });
  }
}
