import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bindery, copyFixture, run, tempDir, FIXTURES, ROOT } from './helpers.ts';

const work = tempDir('bindery-cli-');
const key = join(work.dir, 'signing-key.pem');
const basic = join(FIXTURES, 'core-basic');
const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

test.before(async () => {
  assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key])).code, 0);
});
test.after(() => work.cleanup());

/** stdout must be exactly one JSON document. */
function oneDocument(stdout: string): Record<string, unknown> {
  const doc = JSON.parse(stdout) as Record<string, unknown>;
  assert.type(doc, 'object');
  return doc;
}

/**
 * A fault injected into a real run of the compiled CLI: node:os's availableParallelism (which
 * only bindery calls, for the --jobs default) throws a TypeError, as a bug in bindery would.
 * Preloaded with --import: bindery has no test hook.
 */
const FAULT = `data:text/javascript,${encodeURIComponent(
  "import os from 'node:os'; import { syncBuiltinESMExports } from 'node:module'; os.availableParallelism = () => { throw new TypeError('injected fault'); }; syncBuiltinESMExports();",
)}`;

test('exit 0: a good build, --version and help', async () => {
  const r = await bindery(['build', basic, '--out', join(work.dir, 'ok'), '--signing-key', key]);
  assert.is(r.code, 0, r.stderr);
  const v = await bindery(['--version']);
  assert.equal([v.code, v.stdout.trim()], [0, version]);
  assert.is((await bindery(['help', 'build'])).code, 0);
});

test('exit 1: a bind failure, with --json one document listing every host of the failure', async () => {
  const repo = copyFixture('core-basic');
  try {
    writeFileSync(join(repo.dir, 'Cfg/etc/issue/issue.G60_base.liquid'), '{{ nosuch }}\n');
    const r = await bindery(['build', repo.dir, '--out', join(repo.dir, 'out'), '--signing-key', key, '--json']);
    assert.is(r.code, 1, r.stderr);
    const doc = oneDocument(r.stdout) as { ok: boolean; errors: { code: string; hosts: string[]; severity: string }[] };
    assert.is(doc.ok, false);
    assert.equal(doc.errors.map((e) => [e.code, e.severity]), [['bind-failed', 'error']]);
    assert.equal(doc.errors[0]!.hosts, ['db1', 'web1', 'web2'], 'every host, never "and N more"');
  } finally {
    repo.cleanup();
  }
});

test('exit 2: usage and configuration errors, each a single JSON document with --json', async () => {
  const cases: [string[], string, RegExp][] = [
    [['frobnicate', '--json'], 'usage', /unknown command 'frobnicate'/],
    [['build', basic, '--job', '2', '--json'], 'usage', /unknown option '--job'/],
    [['build', '--json'], 'usage', /missing repository directory/],
    [['build', work.dir, '--out', join(work.dir, 'o'), '--signing-key', key, '--json'], 'not-a-repository', /no Metadata\/ directory/],
    [['build', basic, '--out', join(work.dir, 'o'), '--json'], 'config', /no signing key/],
    [['build', basic, '--out', join(work.dir, 'o'), '--signing-key', key, '--config', join(work.dir, 'none.conf'), '--json'], 'config', /ENOENT/],
  ];
  const runs = await Promise.all(cases.map(([args]) => bindery(args, { env: { BINDERY_SIGNING_KEY: '' } })));
  for (const [i, [args, code, text]] of cases.entries()) {
    const r = runs[i]!;
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const doc = oneDocument(r.stdout) as { ok: boolean; errors: { code: string; text: string }[] };
    assert.is(doc.ok, false);
    assert.is(doc.errors[0]!.code, code, args.join(' '));
    assert.match(doc.errors[0]!.text, text);
    assert.match(r.stderr, `error[${code}]`, 'human output on stderr names the code');
  }
  const suggest = await bindery(['build', basic, '--job', '2']);
  assert.match(suggest.stderr, 'did you mean --jobs?');
});

test('exit 70: an internal error says it is a bug and what to attach, with --json too', async () => {
  const r = await run(process.execPath, ['--import', FAULT, join(ROOT, 'bin', 'bindery.js'), 'build', basic, '--out', join(work.dir, 'x'), '--signing-key', key, '--json']);
  assert.is(r.code, 70, r.stderr);
  const doc = oneDocument(r.stdout) as { ok: boolean; errors: { code: string; text: string; hint: string }[] };
  assert.is(doc.ok, false);
  assert.is(doc.errors[0]!.code, 'internal');
  assert.match(doc.errors[0]!.text, 'injected fault');
  assert.match(doc.errors[0]!.hint, `a bug in bindery ${version}`);
  assert.match(doc.errors[0]!.hint, 'report it with the command line');
  assert.match(r.stderr, 'TypeError: injected fault\n    at ', 'the stack trace to attach');
});

test('a file:line error shows a code frame with the line and a caret', async () => {
  const repo = copyFixture('core-basic');
  try {
    const groups = join(repo.dir, 'Metadata/groups.xml');
    const lines = readFileSync(groups, 'utf8').split('\n');
    lines.splice(1, 0, '  <Group name="broken"');
    writeFileSync(groups, lines.join('\n'));
    const r = await bindery(['info', 'client', 'web1', '--repo', repo.dir]);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error\[xml-malformed\]: Metadata\/groups\.xml:\d+:\d+: malformed XML/m);
    assert.match(r.stderr, /\n {2}\d+ \| .*\n {2} *\| *\^/);
  } finally {
    repo.cleanup();
  }
});

test('every option of every command has a description; info and ca alone list their subcommands', async () => {
  const top = await bindery(['--help']);
  const names = [...top.stdout.matchAll(/^ {2}([a-z]+)(?: \[options\])? {2,}/gm)].map((m) => m[1]!).filter((n) => n !== 'help');
  assert.ok(names.includes('build') && names.includes('fetch'), top.stdout);
  const helps = await Promise.all(names.map((name) => bindery(['help', name])));
  for (const [i, name] of names.entries()) {
    const h = helps[i]!;
    assert.is(h.code, 0, name);
    const options = h.stdout.split('Options:\n')[1]?.split('\n\n')[0] ?? '';
    for (const line of options.split('\n').filter((l) => /^ {2}-/.test(l))) {
      assert.match(line, /^ {2}\S.*\S {2,}\S/, `${name}: "${line.trim()}" has a description`);
    }
  }
  for (const group of ['info', 'ca']) {
    const r = await bindery([group]);
    assert.is(r.code, 2, 'a missing subcommand is a usage error');
    assert.match(r.stderr, /Commands:\n/);
  }
  assert.match((await bindery(['info'])).stderr, 'buildfile');
  assert.match((await bindery(['help', 'info', 'client'])).stdout, 'Usage: bindery info client <host>');
  assert.match((await bindery(['help', 'build'])).stdout.replace(/\s+/g, ' '), /--jobs <n> \w[^(]* \(default: the available parallelism\)/);
});

test('FORCE_COLOR colours the output; NO_COLOR and a pipe leave it plain', async () => {
  const args = ['build', work.dir, '--out', join(work.dir, 'o'), '--signing-key', key];
  const forced = await bindery(args, { env: { FORCE_COLOR: '1', NO_COLOR: '' } });
  assert.match(forced.stderr, '\u001b[31merror\u001b[39m');
  const plain = await bindery(args, { env: { NO_COLOR: '1' } });
  assert.not.match(plain.stderr, '\u001b[');
});

test('every code the sources use is registered in src/errors.ts', () => {
  const used = new Set<string>();
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
  for (const file of walk(join(ROOT, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\bcode: '([a-z][a-z0-9-]*)'/g)) used.add(m[1]!);
    for (const m of text.matchAll(/new BinderyError\('([a-z][a-z0-9-]*)'/g)) used.add(m[1]!);
  }
  // The registry as written: one `'code': c(…)` line per code.
  const registered = new Set([...readFileSync(join(ROOT, 'src', 'errors.ts'), 'utf8').matchAll(/^ {2}'([a-z][a-z0-9-]*)': c\(/gm)].map((m) => m[1]!));
  assert.ok(registered.has('bind-failed') && registered.has('internal'));
  const missing = [...used].filter((c) => !registered.has(c));
  assert.equal(missing, [], 'add these codes, one per line, to CODES in src/errors.ts');
});

test.run();
