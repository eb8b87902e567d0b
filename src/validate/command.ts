import { BinderyError } from '../errors.js';
import type { RepoFile } from '../types.js';

const HINT = 'make it executable (chmod +x) or start it with a #! line';

/**
 * The argv that runs a `:test` validator: an executable file runs itself with
 * no arguments; otherwise its first line must be `#!interpreter args…`, split shell-style, with
 * the file's absolute path appended.
 */
export function validatorCommand(validator: RepoFile): string[] {
  if ((validator.mode & 0o111) !== 0) return [validator.abs];
  const end = validator.data.indexOf(0x0a);
  const first = validator.data.subarray(0, end === -1 ? validator.data.length : end).toString('utf8').trim();
  if (!first.startsWith('#!')) {
    throw new BinderyError('VALIDATE', 'validator is not executable and has no #! line', { file: validator.rel }, HINT);
  }
  let words: string[];
  try {
    words = shellSplit(first.slice(2));
  } catch (e) {
    throw new BinderyError('VALIDATE', `cannot parse the #! line: ${(e as Error).message}`, { file: validator.rel, line: 1 }, 'quote the #! line as a POSIX shell would');
  }
  if (!words[0]) throw new BinderyError('VALIDATE', 'the #! line names no interpreter', { file: validator.rel, line: 1 }, HINT);
  return [...words, validator.abs];
}

/**
 * Split like Python's shlex.split (POSIX mode, no comments), which Bcfg2 uses for the #! line:
 * whitespace separates words, single quotes are literal, backslash escapes any character outside
 * quotes and only `"` or `\` inside double quotes.
 */
function shellSplit(s: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && (s[i + 1] === '"' || s[i + 1] === '\\')) word += s[++i];
      else word += c;
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\') {
      if (i + 1 >= s.length) throw new Error('a backslash at the end has nothing to escape');
      word = (word ?? '') + s[++i];
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new Error(`no closing ${quote === '"' ? 'double' : 'single'} quote`);
  if (word !== null) words.push(word);
  return words;
}
