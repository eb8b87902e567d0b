import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { validatorCommand, runValidators, OUTPUT_CAP, type ValidationRequest } from '../src/validate/index.ts';
import { BinderyError } from '../src/errors.ts';
import type { RepoFile } from '../src/types.ts';
import { FIXTURES, ROOT, run, tempDir } from './helpers.ts';

const REPO = join(FIXTURES, 'validate-repo');
const SAMPLE = join(ROOT, 'sample-repo');

/** A validator as the repo loader would hand it over. */
function repoFile(root: string, rel: string): RepoFile {
  const abs = join(root, rel);
  return { rel, abs, data: readFileSync(abs), mode: statSync(abs).mode };
}
const fixture = (name: string) => repoFile(REPO, `Cfg/etc/${name}/:test`);
const inMemory = (text: string, mode: number): RepoFile => ({ rel: 'Cfg/etc/x/:test', abs: '/repo/Cfg/etc/x/:test', data: Buffer.from(text), mode });

function request(validator: RepoFile, content: string | Buffer, ...hosts: string[]): ValidationRequest {
  return { validator, content: Buffer.from(content), uses: hosts.map((host) => ({ host, path: '/etc/x' })) };
}

/** Alive = signal 0 reaches it and it is not a zombie waiting for a reaper that may never come. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A killed process may still be tearing down when its pipes close: give it a moment to be gone. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const t = tempDir('bindery-validate-');
  try {
    return await fn(t.dir);
  } finally {
    t.cleanup();
  }
}

const opts = { jobs: 4, timeoutMs: 10_000 };

// --- the command line

test('an executable validator runs itself with no arguments', () => {
  assert.equal(validatorCommand(inMemory('anything', 0o100755)), ['/repo/Cfg/etc/x/:test']);
});

test('a non-executable validator runs through its #! line with its path appended', () => {
  assert.equal(validatorCommand(inMemory('#! /bin/bash -x\necho hi\n', 0o100644)), ['/bin/bash', '-x', '/repo/Cfg/etc/x/:test']);
});

test('the #! line is split shell-style: quotes and backslashes', () => {
  const cmd = validatorCommand(inMemory(`#!/usr/bin/env "my interp" 'a "b"' c\\ d "e\\"f\\\\" g''h ''\n`, 0o100644));
  assert.equal(cmd, ['/usr/bin/env', 'my interp', 'a "b"', 'c d', 'e"f\\', 'gh', '', '/repo/Cfg/etc/x/:test']);
});

test('a validator neither executable nor starting with #! is an error naming the file, with a hint', () => {
  try {
    validatorCommand(inMemory('visudo -cf -\n', 0o100644));
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.instance(e, BinderyError);
    const err = e as BinderyError;
    assert.is(err.code, 'VALIDATE');
    assert.is(err.location.file, 'Cfg/etc/x/:test');
    assert.match(err.message, /not executable and has no #! line/);
    assert.match(err.hint ?? '', /chmod \+x/);
  }
});

test('an unclosed quote on the #! line is an error at line 1', () => {
  try {
    validatorCommand(inMemory('#!/bin/sh "-e\n', 0o100644));
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.is((e as BinderyError).code, 'VALIDATE');
    assert.is((e as BinderyError).location.line, 1);
    assert.match((e as BinderyError).message, /no closing double quote/);
  }
});

// --- running them

test('a validator that exits 0 passes', async () => {
  const [o] = await runValidators([request(fixture('pass'), 'x', 'h1')], opts);
  assert.is(o!.ok, true);
  assert.is(o!.message, undefined);
  assert.is(o!.validator, 'Cfg/etc/pass/:test');
  assert.is(o!.sha256, createHash('sha256').update('x').digest('hex'));
});

test('the content arrives on stdin; a failure carries the stripped stderr and every use', async () => {
  const v = fixture('reject');
  const outcomes = await runValidators([request(v, 'this is good\n', 'a'), request(v, 'this is bad\n', 'b', 'c')], opts);
  const good = outcomes.find((o) => o.ok)!;
  const bad = outcomes.find((o) => !o.ok)!;
  assert.equal(good.uses, [{ host: 'a', path: '/etc/x' }]);
  assert.is(bad.message, 'content is not good');
  assert.equal(bad.uses.map((u) => u.host), ['b', 'c']);
});

test('without stderr the message is the stripped stdout, without either the exit code', async () => {
  const [out] = await runValidators([request(fixture('stdout'), 'x', 'h')], opts);
  const [silent] = await runValidators([request(fixture('silent'), 'x', 'h')], opts);
  assert.is(out!.message, 'bad on stdout');
  assert.is(silent!.message, 'exited with code 7');
});

test('a #! validator really runs through the interpreter, with its path as the last argument', async () => {
  const v = fixture('shebang');
  const [o] = await runValidators([request(v, 'x', 'h')], opts);
  assert.is(o!.ok, false);
  assert.is(o!.message, v.abs);
});

test('a validator that cannot run fails its hosts with a clear reason instead of throwing', async () => {
  const outcomes = await runValidators([request(fixture('noexec'), 'x', 'h1'), request(fixture('missing-interp'), 'x', 'h2')], opts);
  const [missing, noexec] = outcomes;
  assert.is(noexec!.validator, 'Cfg/etc/noexec/:test');
  assert.match(noexec!.message!, /not executable and has no #! line \(make it executable \(chmod \+x\)/);
  assert.match(missing!.message!, /cannot run \/nonexistent\/interpreter: .*ENOENT/);
});

test('a #! line with a NUL byte fails its hosts instead of crashing the run', async () => {
  const [o] = await runValidators([request(inMemory('#!/bin/sh\0x\n', 0o100644), 'x', 'h')], opts);
  assert.is(o!.ok, false);
  assert.match(o!.message!, /^cannot run \/bin\/sh.*null bytes/);
});

test('a timeout beyond what a timer can hold (about 24.8 days) does not fire at once', async () => {
  const [o] = await runValidators([request(fixture('pass'), 'x', 'h')], { jobs: 1, timeoutMs: 99_999_999_000 });
  assert.is(o!.ok, true, o!.message);
});

test('a hanging validator is killed at the timeout, together with its children', async () => {
  await withTemp(async (dir) => {
    const started = Date.now();
    const [o] = await runValidators([request(fixture('hang'), 'x', 'h')], { jobs: 1, timeoutMs: 500, cwd: dir });
    assert.is(o!.ok, false);
    assert.is(o!.timedOut, true);
    assert.is(o!.message, 'killed after 0.5 s (timeout)');
    assert.ok(Date.now() - started < 5000, 'returns soon after the timeout');
    const child = Number(readFileSync(join(dir, 'hang.pid'), 'utf8'));
    assert.ok(child > 0);
    assert.ok(await gone(child), `the validator's child ${child} is gone`);
  });
});

test('a validator that exits while its child holds stdout open passes at once, and the child is killed', async () => {
  await withTemp(async (dir) => {
    const started = Date.now();
    const [o] = await runValidators([request(fixture('straggler'), 'x', 'h')], { jobs: 1, timeoutMs: 20_000, cwd: dir });
    assert.is(o!.ok, true);
    assert.ok(Date.now() - started < 5000, 'does not wait for the child');
    const child = Number(readFileSync(join(dir, 'straggler.pid'), 'utf8'));
    assert.ok(child > 0);
    assert.ok(await gone(child), `the validator's child ${child} is gone`);
  });
});

test('megabytes on stderr neither deadlock nor flood the message: it keeps the first 4 KiB and says so', async () => {
  const [o] = await runValidators([request(fixture('loud'), 'x', 'h')], opts);
  assert.is(o!.ok, false);
  assert.ok(o!.message!.startsWith('xxxx'));
  assert.ok(o!.message!.length < OUTPUT_CAP + 200, `message is ${o!.message!.length} characters`);
  assert.match(o!.message!, /\[stderr truncated: first 4 KiB of 5000000 bytes shown\]$/);
});

test('a validator that never reads its input does not crash bindery (EPIPE), and its exit code decides', async () => {
  const big = Buffer.alloc(8 * 1024 * 1024, 'y');
  const [o] = await runValidators([request(fixture('deaf'), big, 'h')], opts);
  assert.is(o!.ok, true);
});

test('each distinct (validator, content) runs once, however many hosts share it', async () => {
  await withTemp(async (dir) => {
    const contents = ['alpha\n', 'beta\n', 'gamma\n'].map((s) => Buffer.from(s));
    const v = fixture('counter');
    const requests = Array.from({ length: 1000 }, (_, i) => ({ validator: v, content: contents[i % 3]!, uses: [{ host: `host${String(i).padStart(4, '0')}`, path: '/etc/x' }] }));
    let done = 0;
    const outcomes = await runValidators(requests, { jobs: 4, timeoutMs: 10_000, cwd: dir, onDone: () => done++ });
    const runs = readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n');
    const shas = contents.map((c) => createHash('sha256').update(c).digest('hex')).sort();
    assert.equal([...runs].sort(), shas, 'one run per distinct content, fed that content');
    assert.is(done, 3);
    assert.equal(outcomes.map((o) => o.sha256), shas, 'sorted by sha256');
    assert.is(outcomes.reduce((n, o) => n + o.uses.length, 0), 1000);
    assert.equal(outcomes.find((o) => o.sha256 === createHash('sha256').update('alpha\n').digest('hex'))!.uses.slice(0, 2).map((u) => u.host), ['host0000', 'host0003']);
  });
});

test('the same content under two validators runs each of them', async () => {
  const outcomes = await runValidators([request(fixture('silent'), 'same', 'h'), request(fixture('pass'), 'same', 'h')], opts);
  assert.equal(outcomes.map((o) => [o.validator, o.ok]), [['Cfg/etc/pass/:test', true], ['Cfg/etc/silent/:test', false]]);
});

test('no more than --jobs validators run at once, and they do run in parallel', async () => {
  await withTemp(async (dir) => {
    const v = fixture('concurrency');
    await runValidators(['1', '2', '3', '4', '5', '6'].map((c) => request(v, c, `h${c}`)), { jobs: 2, timeoutMs: 10_000, cwd: dir });
    const overlaps = readFileSync(join(dir, 'overlap.log'), 'utf8').trim().split('\n').map(Number);
    assert.is(overlaps.length, 6);
    assert.is(Math.max(...overlaps), 2);
  });
});

// --- through `bindery build` and `bindery validate` (the fixture is a real repository too)

const work = tempDir('bindery-validate-cli-');
const KEY = join(work.dir, 'signing-key.pem');
const ENV = { BINDERY_PASSPHRASE_FIXTURE: 'validate fixture passphrase' };
test.before(async () => {
  assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', KEY])).code, 0);
});
test.after(() => work.cleanup());

interface Scratch {
  readonly repo: string;
  /** bindery's working directory, so its validators' too: runs.log, seen.*, hang.pid land here. */
  readonly cwd: string;
  readonly out: string;
}

let scratches = 0;
/** A copy of the fixture repository (tests change it) and an empty working directory. */
function scratch(): Scratch {
  const base = join(work.dir, `s${scratches++}`);
  const s = { repo: join(base, 'repo'), cwd: join(base, 'cwd'), out: join(base, 'out') };
  cpSync(REPO, s.repo, { recursive: true });
  mkdirSync(s.cwd);
  return s;
}

/** The CLI from source, run in `cwd` (helpers.bindery resolves tsx from the working directory). */
function cli(s: Scratch, ...args: string[]) {
  return run(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: s.cwd, env: ENV });
}
const build = (s: Scratch, ...extra: string[]) => cli(s, 'build', s.repo, '--out', s.out, '--signing-key', KEY, ...extra);

/** Each logged run as "<validator, repo-relative> <sha256 of what it read>", sorted; [] when none ran. */
function runs(s: Scratch): string[] {
  const log = join(s.cwd, 'runs.log');
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8').trim().split('\n').map((l) => {
    const [path, sha] = l.split(' ');
    return `${relative(s.repo, path!)} ${sha}`;
  }).sort();
}
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const hostsOf = (s: Scratch) => readdirSync(join(s.out, 'hosts')).filter((f) => f.endsWith('.tar.gz')).map((f) => f.slice(0, -7)).sort();

/** Write an executable validator into the scratch repository. */
function validator(s: Scratch, rel: string, script: string): void {
  writeFileSync(join(s.repo, rel), script);
  chmodSync(join(s.repo, rel), 0o755);
}

test('bindery build: one run per distinct (validator, content) across hosts, the best validator per host, on the final content', async () => {
  const s = scratch();
  const r = await build(s, '--json');
  assert.is(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).validation, { checked: 24, failed: 0, runs: 8 });
  const same = sha('one file, three validators\n');
  assert.equal(runs(s), [
    `Cfg/etc/motd/:test ${sha('This is a db-server.\n')}`,
    `Cfg/etc/motd/:test ${sha('This is a web-server.\n')}`,
    // all for db1 and db2, group web for web2-4, host web1 for web1: each runs once
    `Cfg/etc/sel/:test ${same}`,
    `Cfg/etc/sel/:test.G50_web ${same}`,
    `Cfg/etc/sel/:test.H_web1 ${same}`,
    `Cfg/etc/shared/:test ${sha('the same for every host\n')}`,
  ].sort(), 'shared by 6 hosts: one run; a template with 2 distinct results: 2 runs');
  // What the secret's validator read: decrypted, with the web hosts' .cat delta applied.
  const seen = readdirSync(s.cwd).filter((f) => f.startsWith('seen.')).map((f) => readFileSync(join(s.cwd, f), 'utf8')).sort();
  assert.equal(seen, ['token = decrypted before validation\n', 'token = decrypted before validation\nweb hosts also get this line (a .cat delta)\n']);
});

test('bindery build: two equally specific validators for a host are an error naming both; --keep-going keeps the other hosts', async () => {
  const s = scratch();
  for (const g of ['x', 'y']) validator(s, `Cfg/etc/sel/:test.G50_${g}`, '#!/bin/sh\ncat >/dev/null\n');
  let r = await build(s);
  assert.is(r.code, 1);
  assert.match(r.stderr, 'error[bind-failed]: Cfg/etc/sel/:test.G50_x, hosts db1, db2, path /etc/sel: 2 validators are equally specific (group x (priority 50)) for this client: Cfg/etc/sel/:test.G50_x and Cfg/etc/sel/:test.G50_y');
  assert.not.ok(existsSync(join(s.out, 'current')), 'nothing is published');
  r = await build(s, '--keep-going');
  assert.is(r.code, 1);
  assert.equal(hostsOf(s), ['db1', 'db2', 'web1', 'web2', 'web3', 'web4'], 'every host is published, without its failed entries');
});

test('bindery build: a failing validator names hosts, path, validator and message; the previous output stays; --keep-going keeps the rest', async () => {
  const s = scratch();
  assert.is((await build(s)).code, 0);
  const manifest = readFileSync(join(s.out, 'manifest.json'));
  validator(s, 'Cfg/etc/sel/:test', '#!/bin/sh\ncat >/dev/null\necho "  sel: not for databases  " >&2\nexit 3\n');
  let r = await build(s);
  assert.is(r.code, 1);
  assert.match(r.stderr, 'error[validator-failed]: Cfg/etc/sel/:test, hosts db1, db2, path /etc/sel: validator failed: sel: not for databases\n');
  assert.equal(readFileSync(join(s.out, 'manifest.json')), manifest, 'the previous build is untouched');
  r = await build(s, '--keep-going', '--json');
  assert.is(r.code, 1);
  assert.equal(hostsOf(s), ['db1', 'db2', 'web1', 'web2', 'web3', 'web4'], 'every host is published, without its failed entries');
  const failures = JSON.parse(readFileSync(join(s.out, 'manifest.json'), 'utf8')).failures;
  assert.equal(failures.map((f: { host: string; path: string; file: string; message: string }) => [f.host, f.path, f.file, f.message]), [
    ['db1', '/etc/sel', 'Cfg/etc/sel/:test', 'validator failed: sel: not for databases'],
    ['db2', '/etc/sel', 'Cfg/etc/sel/:test', 'validator failed: sel: not for databases'],
  ]);
});

test('bindery build: a validator still running at [cfg] validation_timeout is killed with its children', async () => {
  const s = scratch();
  writeFileSync(join(s.repo, 'bcfg2.conf'), '[cfg]\nvalidation_timeout = 1\n');
  cpSync(join(REPO, 'Cfg/etc/hang/:test'), join(s.repo, 'Cfg/etc/shared/:test'));
  const started = Date.now();
  const r = await build(s);
  assert.is(r.code, 1);
  assert.ok(Date.now() - started < 60_000, 'the build does not wait for the validator (it sleeps 300 s)');
  assert.match(r.stderr, 'error[validator-failed]: Cfg/etc/shared/:test, hosts db1, db2, web1, web2, web3 and 1 more, path /etc/shared: validator failed: killed after 1 s (timeout)');
  const child = Number(readFileSync(join(s.cwd, 'hang.pid'), 'utf8'));
  assert.ok(child > 0 && (await gone(child)), `the validator's child ${child} is gone`);
});

test('interrupting bindery build (SIGINT) kills the running validators and their children', async () => {
  const s = scratch();
  cpSync(join(REPO, 'Cfg/etc/hang/:test'), join(s.repo, 'Cfg/etc/shared/:test'));
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts'), 'build', s.repo, '--out', s.out, '--signing-key', KEY], { cwd: s.cwd, env: { ...process.env, ...ENV }, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const pidFile = join(s.cwd, 'hang.pid');
  for (let i = 0; i < 300 && !(existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim()); i++) await new Promise((r) => setTimeout(r, 50));
  const grandchild = Number(readFileSync(pidFile, 'utf8'));
  assert.ok(alive(grandchild), 'the validator is running');
  child.kill('SIGINT');
  assert.is(await exited, 130);
  assert.ok(await gone(grandchild), `the validator's child ${grandchild} is gone`);
});

test('[cfg] validation = no and --no-validate turn validators off; bindery validate runs them anyway', async () => {
  const s = scratch();
  validator(s, 'Cfg/etc/sel/:test', '#!/bin/sh\ncat >/dev/null\necho "sel: rejected" >&2\nexit 1\n');
  let r = await build(s, '--no-validate');
  assert.is(r.code, 0, r.stderr);
  writeFileSync(join(s.repo, 'bcfg2.conf'), '[cfg]\nvalidation = no\n');
  r = await build(s);
  assert.is(r.code, 0, r.stderr);
  assert.equal(runs(s), [], 'no validator ran');
  r = await cli(s, 'validate', s.repo);
  assert.is(r.code, 1);
  assert.match(r.stderr, 'error[validator-failed]: Cfg/etc/sel/:test, hosts db1, db2, path /etc/sel: validator failed: sel: rejected');
  assert.match(r.stderr, 'FAILED: 8 validator runs covered 24 validated files of 6 hosts');
  assert.is(runs(s).length, 5, 'the 5 logging runs ran (the 2 secret runs and the failing one do not log)');
});

test('bindery build --jobs bounds how many validators run at once', async () => {
  const s = scratch();
  mkdirSync(join(s.repo, 'Cfg/etc/perhost'));
  writeFileSync(join(s.repo, 'Cfg/etc/perhost/perhost.liquid'), '{{ metadata.hostname }}\n');
  cpSync(join(REPO, 'Cfg/etc/concurrency/:test'), join(s.repo, 'Cfg/etc/perhost/:test'));
  // "no timeout to speak of": more than a timer holds, which once killed every validator at once
  writeFileSync(join(s.repo, 'bcfg2.conf'), '[cfg]\nvalidation_timeout = 99999999\n');
  const r = await build(s, '--jobs', '2');
  assert.is(r.code, 0, r.stderr);
  const overlaps = readFileSync(join(s.cwd, 'overlap.log'), 'utf8').trim().split('\n').map(Number);
  assert.is(overlaps.length, 6, 'one run per host: each content differs');
  assert.is(Math.max(...overlaps), 2);
});

test('bindery build: a #! line naming no interpreter and a flood of stderr fail only their entries, with short messages', async () => {
  const s = scratch();
  writeFileSync(join(s.repo, 'Cfg/etc/sel/:test'), '#! ""\necho\n');
  chmodSync(join(s.repo, 'Cfg/etc/sel/:test'), 0o644);
  cpSync(join(REPO, 'Cfg/etc/loud/:test'), join(s.repo, 'Cfg/etc/shared/:test'));
  const r = await build(s, '--json');
  assert.is(r.code, 1);
  assert.not.match(r.stderr, /^error\[internal\]/m, 'no crash of the whole build');
  const errors = JSON.parse(r.stdout).errors as { hosts: string[]; location: { file: string }; text: string }[];
  const sel = errors.filter((m) => m.location.file === 'Cfg/etc/sel/:test');
  assert.equal(sel.flatMap((m) => m.hosts), ['db1', 'db2']);
  assert.ok(sel.every((m) => /the #! line names no interpreter/.test(m.text)), sel[0]?.text);
  // One message per distinct failure, naming every host: the message must stay short.
  const loud = errors.filter((m) => m.location.file === 'Cfg/etc/shared/:test');
  assert.is(loud.flatMap((m) => m.hosts).length, 6);
  for (const m of loud) assert.ok(m.text.length < OUTPUT_CAP + 200, `message of ${m.text.length} characters`);
  assert.ok(r.stdout.length < 64 * 1024, `--json output of ${r.stdout.length} bytes`);
});

// --- the sample repository's real validators (CI installs sudo and openssh-server)

async function sampleVerdicts(entry: string, good: Buffer, bad: Buffer) {
  const v = repoFile(SAMPLE, `Cfg/etc/${entry}/:test`);
  const outcomes = await runValidators([{ validator: v, content: good, uses: [{ host: 'good', path: entry }] }, { validator: v, content: bad, uses: [{ host: 'bad', path: entry }] }], opts);
  const of = (host: string) => outcomes.find((o) => o.uses[0]!.host === host)!;
  return { good: of('good'), bad: of('bad') };
}

test('sample sudoers passes visudo, and a broken one fails with visudo\'s complaint', async () => {
  assert.ok(existsSync('/usr/sbin/visudo') || existsSync('/usr/bin/visudo'), 'visudo is missing: apt-get install sudo');
  const sudoers = readFileSync(join(SAMPLE, 'Cfg/etc/sudoers/sudoers'));
  const { good, bad } = await sampleVerdicts('sudoers', sudoers, Buffer.concat([sudoers, Buffer.from('admin ALL=(ALL ALL\n')]));
  assert.is(good.ok, true, good.message);
  assert.is(bad.ok, false);
  assert.match(bad.message!, /syntax error/);
});

test('sample sshd_config passes sshd -t, and an unknown option fails naming it', async () => {
  assert.ok(existsSync('/usr/sbin/sshd'), 'sshd is missing: apt-get install openssh-server');
  const config = readFileSync(join(SAMPLE, 'Cfg/etc/ssh/sshd_config/sshd_config'));
  const { good, bad } = await sampleVerdicts('ssh/sshd_config', config, Buffer.concat([config, Buffer.from('PermitRootLogn no\n')]));
  assert.is(good.ok, true, good.message);
  assert.is(bad.ok, false);
  assert.match(bad.message!, /Bad configuration option: PermitRootLogn/);
});

test('sample config.json passes its checker; invalid JSON and a missing key fail with a reason', async () => {
  const json = readFileSync(join(SAMPLE, 'Cfg/etc/app/config.json/config.json'));
  const syntax = await sampleVerdicts('app/config.json', json, Buffer.from('{"listen": '));
  assert.is(syntax.good.ok, true, syntax.good.message);
  assert.is(syntax.bad.ok, false);
  assert.match(syntax.bad.message!, /not valid JSON/);
  const { bad } = await sampleVerdicts('app/config.json', json, Buffer.from('{"listen": "0.0.0.0:8080"}\n'));
  assert.match(bad.message!, /missing required key "log_level"/);
});

test.run();
