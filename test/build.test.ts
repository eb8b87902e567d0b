import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync, existsSync, symlinkSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { bindery, run, tempDir, copyFixture, FIXTURES } from './helpers.ts';
import { encryptText } from '../src/secrets/index.ts';
import { layout, parseHostRecord } from '../src/protocol/index.ts';

const work = tempDir('bindery-build-');
const key = join(work.dir, 'signing-key.pem');
const pub = join(work.dir, 'signing-pub.pem');

test.before(async () => {
  assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key])).code, 0);
  assert.is((await run('openssl', ['pkey', '-in', key, '-pubout', '-out', pub])).code, 0);
});
test.after(() => work.cleanup());

const basic = join(FIXTURES, 'core-basic');

async function build(repo: string, out: string, ...extra: string[]) {
  return bindery(['build', repo, '--out', out, '--signing-key', key, '--json', ...extra]);
}

async function extract(tarball: string): Promise<string> {
  const dir = join(work.dir, 'x-' + Math.random().toString(36).slice(2));
  mkdirSync(dir);
  const r = await run('tar', ['-xzf', tarball, '-C', dir]);
  assert.is(r.code, 0, r.stderr);
  return dir;
}

test('build writes one signed tarball per client that real tar and openssl accept', async () => {
  const out = join(work.dir, 'out1');
  const r = await build(basic, out);
  assert.is(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.is(summary.ok, true);
  assert.equal(Object.keys(summary.tarballs).sort(), ['db1', 'web1', 'web2']);
  for (const host of ['db1', 'web1', 'web2']) {
    const tgz = join(out, 'hosts', `${host}.tar.gz`);
    const v = await run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', tgz, '-sigfile', tgz + '.sig']);
    assert.is(v.code, 0, `signature of ${host}: ${v.stdout}${v.stderr}`);
  }
  const web1 = await extract(join(out, 'hosts', 'web1.tar.gz'));
  assert.is(readFileSync(join(web1, 'etc/motd'), 'utf8'), 'Welcome, web1 itself\n', 'host file beats group file');
  assert.is(readFileSync(join(web1, 'etc/web.conf'), 'utf8'), 'generic=1\n', 'altsrc binds another entry set under this name');
  assert.equal([...readFileSync(join(web1, 'srv/logo.bin'))], [0, 1, 2, 0xff, 0xfe], 'base64 entries are carried as raw bytes');
  assert.not.ok(existsSync(join(web1, 'etc/db.conf')), 'conditional bundle entries follow groups');
  const web2 = await extract(join(out, 'hosts', 'web2.tar.gz'));
  assert.is(readFileSync(join(web2, 'etc/motd'), 'utf8'), 'Welcome, web server\n');
  const db1 = await extract(join(out, 'hosts', 'db1.tar.gz'));
  assert.is(readFileSync(join(db1, 'etc/motd'), 'utf8'), 'Welcome\n');
  assert.is(readFileSync(join(db1, 'etc/issue'), 'utf8'), 'Authorized use only\nDatabase host\n', 'cat delta of the db group');
  const listing = await run('tar', ['-tvzf', join(out, 'hosts', 'db1.tar.gz')]);
  assert.match(listing.stdout, /-rw------- postgres\/postgres .* etc\/db\.conf/);
  assert.match(listing.stdout, /-rw-r--r-- root\/root .* etc\/motd/);
});

test('the manifest lists hosts, files, skipped entries and warnings, and is signed', async () => {
  const out = join(work.dir, 'out1');
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  assert.equal(Object.keys(manifest.hosts).sort(), ['db1', 'web1', 'web2']);
  const web1 = parseHostRecord(readFileSync(join(out, layout.objectPath(manifest.hosts.web1.record))));
  assert.ok(web1.files.some((f) => f.path === '/etc/web.conf' && f.source === 'Cfg/etc/generic.conf/generic.conf'), 'each host\'s signed record lists its files');
  assert.ok(manifest.skipped.some((s: { tag: string; name: string }) => s.tag === 'Package' && s.name === 'openssh-server'));
  assert.ok(manifest.warnings.some((w: { code: string; file: string }) => w.code === 'unknown-cfg-file' && w.file === 'Cfg/etc/motd/motd.orig'));
  assert.not.ok(JSON.stringify(manifest).includes('motd~'), 'ignore globs hide editor backups');
  const warning = (code: string, file: string) => manifest.warnings.find((w: { code: string; file: string }) => w.code === code && w.file === file);
  assert.match(warning('unknown-group', 'Cfg/etc/issue/issue.G60_ghosts').message, 'group "ghosts" is not declared');
  assert.match(warning('unknown-host', 'Cfg/etc/issue/issue.H_WEB2').message, 'rename it to .H_web2');
  const v = await run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', join(out, 'manifest.json'), '-sigfile', join(out, 'manifest.json.sig')]);
  assert.is(v.code, 0, v.stderr);
});

test('the same repository gives byte-identical tarballs', async () => {
  const out2 = join(work.dir, 'out2');
  assert.is((await build(basic, out2)).code, 0);
  for (const host of ['db1', 'web1', 'web2']) {
    assert.ok(readFileSync(join(work.dir, 'out1', 'hosts', `${host}.tar.gz`)).equals(readFileSync(join(out2, 'hosts', `${host}.tar.gz`))), host);
  }
});

test('a failed build names host, path and files, and leaves the previous output untouched', async () => {
  const repo = copyFixture('core-basic');
  try {
    const out = join(work.dir, 'out-fail');
    assert.is((await build(repo.dir, out)).code, 0);
    const before = readFileSync(join(out, 'manifest.json'));
    writeFileSync(join(repo.dir, 'Cfg/etc/motd/motd.G50_base'), 'tie\n');
    const r = await bindery(['build', repo.dir, '--out', out, '--signing-key', key]);
    assert.is(r.code, 1);
    assert.match(r.stderr, 'motd.G50_base');
    assert.match(r.stderr, 'motd.G50_web');
    assert.match(r.stderr, 'host web2');
    assert.match(r.stderr, 'path /etc/motd');
    assert.ok(readFileSync(join(out, 'manifest.json')).equals(before), 'previous manifest kept');
    const kept = await bindery(['build', repo.dir, '--out', out, '--signing-key', key, '--keep-going', '--json']);
    assert.is(kept.code, 1, 'failures still fail the run');
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    // web2 (in both base and web) is ambiguous; web1 has its own host file; db1 is only in base.
    assert.equal(Object.keys(manifest.hosts), ['db1', 'web1', 'web2'], 'every host is published (decision 17 (docs/decisions.md))');
    assert.equal(manifest.failures.map((f: { host: string; path: string }) => `${f.host} ${f.path}`), ['web2 /etc/motd']);
    const web2 = await run('tar', ['-tzf', join(out, 'hosts', 'web2.tar.gz')]);
    assert.not.match(web2.stdout, 'etc/motd', 'web2 goes without the entry that failed');
    assert.match(web2.stdout, 'etc/issue', 'and gets the rest');
  } finally {
    repo.cleanup();
  }
});

test('a template error shared by many hosts is reported once, naming the template line and every host', async () => {
  const repo = copyFixture('core-basic');
  try {
    writeFileSync(join(repo.dir, 'Cfg/etc/issue/issue.G60_base.liquid'), 'Welcome to {{ metadata.hostname }}\n{{ nosuch }}\n');
    const r = await bindery(['build', repo.dir, '--out', join(repo.dir, 'out'), '--signing-key', key]);
    assert.is(r.code, 1);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('error['));
    assert.is(lines.length, 1, r.stderr);
    assert.is(lines[0]!, 'error[bind-failed]: Cfg/etc/issue/issue.G60_base.liquid:2:4, hosts db1, web1, web2, path /etc/issue: ' + lines[0]!.split(': ').slice(2).join(': '));
    assert.match(lines[0]!, 'undefined variable');
    assert.match(r.stderr, '\n  2 | {{ nosuch }}\n    |    ^\n', 'a code frame points at the column');
    assert.match(r.stderr, 'entries could not be bound (1 file, 1 path, 3 hosts)');
    const json = await bindery(['build', repo.dir, '--out', join(repo.dir, 'out'), '--signing-key', key, '--json']);
    const errors = JSON.parse(json.stdout).errors;
    assert.is(errors.length, 1);
    assert.equal(errors[0].hosts, ['db1', 'web1', 'web2']);
    assert.equal(errors[0].location, { file: 'Cfg/etc/issue/issue.G60_base.liquid', line: 2, column: 4, lineText: '{{ nosuch }}' });
  } finally {
    repo.cleanup();
  }
});

test('an error in an encrypted template names the file and line but never quotes decrypted text', async () => {
  const repo = copyFixture('core-basic');
  try {
    writeFileSync(join(repo.dir, 'bcfg2.conf'), '[encryption]\nops = a passphrase\n');
    const source = 'user = {{ metadata.hostname }}\npassword = "TOPSECRET5" {{ \n';
    writeFileSync(join(repo.dir, 'Cfg/etc/issue/issue.G60_base.liquid.crypt'), encryptText(Buffer.from(source), 'a passphrase'));
    const r = await bindery(['build', repo.dir, '--out', join(repo.dir, 'out'), '--signing-key', key]);
    assert.is(r.code, 1);
    assert.match(r.stderr, 'Cfg/etc/issue/issue.G60_base.liquid.crypt:2');
    assert.match(r.stderr, 'details withheld');
    const json = await bindery(['build', repo.dir, '--out', join(repo.dir, 'out'), '--signing-key', key, '--json']);
    for (const text of [r.stdout, r.stderr, json.stdout, json.stderr]) {
      assert.not.match(text, 'TOPSECRET5');
      assert.not.match(text, 'a passphrase');
    }
  } finally {
    repo.cleanup();
  }
});

test('two equally specific validators are an error only when validators run', async () => {
  const repo = copyFixture('core-basic');
  try {
    for (const name of [':test.G50_base', ':test.G50_web']) writeFileSync(join(repo.dir, 'Cfg/etc/issue', name), '#!/bin/sh\nexit 0\n');
    const off = await bindery(['build', repo.dir, '--out', join(repo.dir, 'out'), '--signing-key', key, '--no-validate']);
    assert.is(off.code, 0, off.stderr);
    const on = await bindery(['build', repo.dir, '--out', join(repo.dir, 'out2'), '--signing-key', key]);
    assert.is(on.code, 1);
    assert.match(on.stderr, /validators are equally specific.*:test\.G50_base and .*:test\.G50_web/);
  } finally {
    repo.cleanup();
  }
});

test('a missing signing key is a usage error that says how to make one', async () => {
  const r = await bindery(['build', basic, '--out', join(work.dir, 'nokey')], { env: { BINDERY_SIGNING_KEY: '' } });
  assert.is(r.code, 2);
  assert.match(r.stderr, 'openssl genpkey -algorithm ed25519');
  assert.not.ok(existsSync(join(work.dir, 'nokey', 'manifest.json')));
});

test('malformed XML fails with the file and line', async () => {
  const repo = copyFixture('core-basic');
  try {
    writeFileSync(join(repo.dir, 'Metadata/groups.xml'), '<Groups>\n  <Group name="a">\n</Groups>\n');
    const r = await bindery(['build', repo.dir, '--out', join(repo.dir, 'out'), '--signing-key', key]);
    assert.is(r.code, 1);
    assert.match(r.stderr, 'Metadata/groups.xml:3');
    assert.not.match(r.stderr, '    at ', 'no stack trace');
  } finally {
    repo.cleanup();
  }
});

test('a symlink pointing out of the repository is refused', async () => {
  const repo = copyFixture('core-basic');
  try {
    mkdirSync(join(repo.dir, 'Cfg/etc/passwd'));
    symlinkSync('/etc/passwd', join(repo.dir, 'Cfg/etc/passwd/passwd'));
    const r = await bindery(['build', repo.dir, '--out', join(repo.dir, 'out'), '--signing-key', key]);
    assert.is(r.code, 1);
    assert.match(r.stderr, 'Cfg/etc/passwd/passwd');
    assert.match(r.stderr, 'outside the repository');
  } finally {
    repo.cleanup();
  }
});

test('an unreadable file is reported by name', async () => {
  const repo = copyFixture('core-basic');
  try {
    chmodSync(repo.dir, 0o755);
    chmodSync(join(repo.dir, 'Cfg/etc/issue/issue'), 0o000);
    const args = ['build', repo.dir, '--out', join(repo.dir, 'out')];
    const env = { BINDERY_SIGNING_KEY: readFileSync(key, 'utf8') };
    // root reads anything: run the build as nobody so the permission really bites.
    const r = await bindery(args, { env, ...(process.getuid?.() === 0 ? { uid: 65534 } : {}) });
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, 'Cfg/etc/issue/issue');
    assert.match(r.stderr, 'EACCES');
  } finally {
    repo.cleanup();
  }
});

test('an empty directory is not a repository', async () => {
  const empty = tempDir();
  try {
    const r = await bindery(['build', empty.dir, '--out', join(empty.dir, 'out'), '--signing-key', key]);
    assert.is(r.code, 2, 'pointing at the wrong directory is a usage error');
    assert.match(r.stderr, 'not a Bcfg2 repository');
  } finally {
    empty.cleanup();
  }
});

test('info client shows groups, bundles and the file chosen for each path', async () => {
  const r = await bindery(['info', 'client', 'WEB1', '--repo', basic]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, 'profile:    web-server');
  assert.match(r.stdout, /groups:\s+base, web, web-server/);
  assert.match(r.stdout, '/etc/motd  ← Cfg/etc/motd/motd.H_web1');
  const j = JSON.parse((await bindery(['info', 'client', 'db1', '--repo', basic, '--json'])).stdout);
  const issue = j.paths.find((p: { path: string }) => p.path === '/etc/issue');
  assert.equal(issue.deltas, ['Cfg/etc/issue/issue.G50_db.cat']);
});

test('info buildfile prints the bound content', async () => {
  const r = await bindery(['info', 'buildfile', '/etc/issue', 'db1', '--repo', basic]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'Authorized use only\nDatabase host\n');
  const miss = await bindery(['info', 'buildfile', '/etc/nope', 'db1', '--repo', basic]);
  assert.is(miss.code, 1);
  assert.match(miss.stderr, 'no Cfg entry set');
  const unknown = await bindery(['info', 'buildfile', '/etc/issue', 'nobody', '--repo', basic]);
  assert.is(unknown.code, 2);
});

test('deltas are never applied to generated keys (decision 4 (docs/decisions.md))', async () => {
  const repo = copyFixture('../../sample-repo');
  try {
    writeFileSync(join(repo.dir, 'Cfg/root/.ssh/id_ed25519/id_ed25519.cat'), '+appended\n');
    const r = await bindery(['info', 'buildfile', '/root/.ssh/id_ed25519', 'node01.cluster.example.com', '--repo', repo.dir]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]*-----END OPENSSH PRIVATE KEY-----\n$/);
    assert.match(r.stderr, 'deltas are never applied to generated keys');
  } finally {
    repo.cleanup();
  }
});

test('a --config that cannot be read is a configuration error (exit 2) naming it', async () => {
  const r = await bindery(['build', basic, '--out', join(work.dir, 'noconf'), '--signing-key', key, '--config', join(work.dir, 'missing.conf')]);
  assert.is(r.code, 2);
  assert.match(r.stderr, 'missing.conf');
  assert.match(r.stderr, 'ENOENT');
});

test('bad command lines exit 2 with a hint', async () => {
  assert.is((await bindery(['frobnicate'])).code, 2);
  assert.is((await bindery(['build'])).code, 2);
  assert.is((await bindery(['build', basic, '--out', 'x', '--jobs', 'zero'])).code, 2);
  const help = await bindery(['build', '--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, 'Usage: bindery build');
});

test.run();
