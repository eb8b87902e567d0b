import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { validatorCommand, runValidators, OUTPUT_CAP, type ValidationRequest } from '../src/validate/index.ts';
import { BinderyError } from '../src/errors.ts';
import type { RepoFile } from '../src/types.ts';
import { FIXTURES, ROOT, tempDir } from './helpers.ts';

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

// --- the command line (spec §6, §12 #24)

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

test('megabytes on stderr neither deadlock nor flood the message: it keeps the first 64 KiB and says so', async () => {
  const [o] = await runValidators([request(fixture('loud'), 'x', 'h')], opts);
  assert.is(o!.ok, false);
  assert.ok(o!.message!.startsWith('xxxx'));
  assert.ok(o!.message!.length < OUTPUT_CAP + 200, `message is ${o!.message!.length} characters`);
  assert.match(o!.message!, /\[stderr truncated: first 64 KiB of 5000000 bytes shown\]$/);
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
