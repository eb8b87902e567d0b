import { spawn } from 'node:child_process';
import { chmodSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { BinderyError } from '../src/errors.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = join(ROOT, 'test', 'fixtures');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Run as this user and group id (tests run as root in CI, and root ignores permissions). */
  uid?: number;
}

/** Run the compiled bindery CLI (bin/bindery.js -> dist; `npx tsc -p .` first) as a real child process. */
export function bindery(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [join(opts.uid === undefined ? ROOT : installedCopy(), 'bin', 'bindery.js'), ...args], opts);
}

let installed: string | undefined;
/**
 * The compiled CLI copied where any user can read it, for tests that run it as another user:
 * the checkout itself may sit in a folder that user cannot enter (a `mktemp -d` clone).
 */
function installedCopy(): string {
  if (installed) return installed;
  const dir = mkdtempSync(join(tmpdir(), 'bindery-installed-'));
  chmodSync(dir, 0o755);
  for (const part of ['bin', 'dist', 'node_modules', 'package.json']) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return (installed = dir);
}

/** Run any program; never rejects on a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const ids = opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid };
    const env = { ...process.env, NO_COLOR: '1', ...(opts.uid === undefined ? {} : { HOME: '/tmp' }), ...opts.env };
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env, stdio: ['pipe', 'pipe', 'pipe'], ...ids });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => {}); // a child may exit before reading its input
    child.stdin.end(opts.input ?? '');
  });
}

/** A fresh temporary directory; call the returned cleanup when done. */
export function tempDir(prefix = 'bindery-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Copy a fixture repo to a temp dir (for tests that write into the repo). */
export function copyFixture(name: string): { dir: string; cleanup: () => void } {
  const t = tempDir(`bindery-${name}-`);
  cpSync(join(FIXTURES, name), t.dir, { recursive: true });
  return t;
}

/** Run fn, which must throw a BinderyError; returns it for further checks. */
export function throwsBindery(fn: () => unknown): BinderyError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, BinderyError);
    return e as BinderyError;
  }
  assert.unreachable('should have thrown a BinderyError');
  throw new Error('unreachable');
}

/** Write files (repo-relative path → text) under dir, creating folders: small repositories made in a test. */
export function writeTree(dir: string, files: Readonly<Record<string, string | Buffer>>): void {
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), data);
  }
}

/** Run the compiled CLI (bin/bindery.js → dist/; build it first with npx tsc -p .). */
export function binderyCompiled(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [join(ROOT, 'bin', 'bindery.js'), ...args], opts);
}

/** Every file and link under dir with its bytes (base64) or link target, by relative path. */
export function fileTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else out[relative(dir, p)] = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}
