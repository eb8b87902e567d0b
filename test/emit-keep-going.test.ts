import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bindery, copyFixture, fileTree as tree, run, tempDir } from './helpers.ts';
import { layout, parseHostRecord, type Manifest } from '../src/protocol/index.ts';
import { keyId } from '../src/emit/index.ts';

/**
 * Decision 17 (docs/decisions.md) end to end, with the ganglia example of Bcfg2's own template
 * docs: a template raises TemplateError for clients that lack a ganglia-gmond-* group, and those
 * clients still get everything else.
 */
const work = tempDir('bindery-keep-going-');
const key = join(work.dir, 'signing-key.pem');
const pub = join(work.dir, 'signing-pub.pem');

test.before(async () => {
  assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key])).code, 0, 'openssl (Debian package openssl) must be installed');
  assert.is((await run('openssl', ['pkey', '-in', key, '-pubout', '-out', pub])).code, 0);
});
test.after(() => work.cleanup());

const GMOND = `{% python
    from genshi.template import TemplateError
    grp = None
    for g in metadata.groups:
        if g.startswith('ganglia-gmond-'):
            grp = g
    if grp is None:
        raise TemplateError, "Missing group"
%}\\
cluster = \${grp}
`;

/** core-basic plus /etc/gmond.conf for every client; only web-server clients are in a ganglia group. */
function gangliaRepo() {
  const repo = copyFixture('core-basic');
  mkdirSync(join(repo.dir, 'Cfg/etc/gmond.conf'), { recursive: true });
  writeFileSync(join(repo.dir, 'Cfg/etc/gmond.conf/gmond.conf.genshi'), GMOND);
  const bundle = join(repo.dir, 'Bundler/base.xml');
  writeFileSync(bundle, readFileSync(bundle, 'utf8').replace('<Path name="/etc/motd"/>', '<Path name="/etc/motd"/>\n  <Path name="/etc/gmond.conf"/>'));
  const groups = join(repo.dir, 'Metadata/groups.xml');
  writeFileSync(groups, readFileSync(groups, 'utf8').replace('<Group name="web"/>\n    <Group name="base"/>', '<Group name="web"/>\n    <Group name="base"/>\n    <Group name="ganglia-gmond-eu"/>').replace('<Group name="db"/>\n</Groups>', '<Group name="db"/>\n  <Group name="ganglia-gmond-eu"/>\n</Groups>'));
  return repo;
}


const manifestOf = (out: string) => JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
const recordOf = (out: string, m: Manifest, host: string) => parseHostRecord(readFileSync(join(out, layout.objectPath(m.hosts[host]!.record))));

async function listing(tarball: string): Promise<string[]> {
  const r = await run('tar', ['-tzf', tarball]);
  assert.is(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean);
}

test('with --keep-going a client lacking the group gets everything but the failed entry, which its record and the manifest list', async () => {
  const repo = gangliaRepo();
  try {
    const out = join(work.dir, 'out-kg');
    const r = await bindery(['build', repo.dir, '--out', out, '--signing-key', key, '--keep-going', '--json']);
    assert.is(r.code, 1, 'anything failed: exit 1');
    const summary = JSON.parse(r.stdout);
    assert.equal([summary.ok, summary.published], [false, true]);
    assert.equal(summary.failedPaths, { db1: ['/etc/gmond.conf'] }, '--json shows the failed entries per host');
    const m = manifestOf(out);
    assert.equal(Object.keys(m.hosts), ['db1', 'web1', 'web2'], 'every host is published');
    assert.equal(m.failures.map((f) => `${f.host} ${f.path} ${f.message}`), ['db1 /etc/gmond.conf TemplateError: Missing group']);
    assert.equal(await listing(join(out, 'hosts/db1.tar.gz')), ['etc/db.conf', 'etc/issue', 'etc/motd'], 'db1 gets the rest of its configuration');
    assert.ok((await listing(join(out, 'hosts/web1.tar.gz'))).includes('etc/gmond.conf'));
    const db1 = recordOf(out, m, 'db1');
    assert.equal(db1.failed.map((f) => [f.path, f.file, f.message]), [['/etc/gmond.conf', 'Cfg/etc/gmond.conf/gmond.conf.genshi', 'TemplateError: Missing group']]);
    assert.equal(recordOf(out, m, 'web1').failed, []);
    const recordFile = join(out, layout.objectPath(m.hosts.db1!.record));
    const v = await run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', recordFile, '-sigfile', join(out, layout.signaturePath(m.hosts.db1!.record, keyId({ publicKeyPem: m.signingKey })))]);
    assert.is(v.code, 0, 'the record with its failed paths is signed: ' + v.stderr);

    const info = await bindery(['info', 'client', 'db1', '--repo', repo.dir, '--json']);
    assert.is(info.code, 1);
    assert.equal(JSON.parse(info.stdout).failed, [{ path: '/etc/gmond.conf', message: 'TemplateError: Missing group' }], 'info client shows the failed entry');
  } finally {
    repo.cleanup();
  }
});

test('without --keep-going the same failure fails the build and the previous output stays exactly as it was', async () => {
  const repo = gangliaRepo();
  try {
    const out = join(work.dir, 'out-strict');
    const groups = join(repo.dir, 'Metadata/groups.xml');
    const original = readFileSync(groups, 'utf8');
    // First every client is in the ganglia group: a clean build.
    writeFileSync(groups, original.replace('<Group name="db"/>\n    <Group name="base"/>', '<Group name="db"/>\n    <Group name="base"/>\n    <Group name="ganglia-gmond-eu"/>'));
    assert.is((await bindery(['build', repo.dir, '--out', out, '--signing-key', key])).code, 0);
    const before = tree(out);
    writeFileSync(groups, original);
    const r = await bindery(['build', repo.dir, '--out', out, '--signing-key', key]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /host db1, path \/etc\/gmond.conf: TemplateError: Missing group/, r.stderr);
    assert.match(r.stderr, 'nothing was published');
    assert.equal(tree(out), before, 'no new object, build, link or lock: the output directory is untouched');
  } finally {
    repo.cleanup();
  }
});

test('the manifest, with every failure, is written even when every entry of every host failed', async () => {
  const repo = copyFixture('core-basic');
  try {
    for (const rel of ['Bundler/base.xml', 'Bundler/web.xml']) writeFileSync(join(repo.dir, rel), '<Bundle>\n  <Path name="/etc/gmond.conf"/>\n</Bundle>\n');
    mkdirSync(join(repo.dir, 'Cfg/etc/gmond.conf'), { recursive: true });
    writeFileSync(join(repo.dir, 'Cfg/etc/gmond.conf/gmond.conf.genshi'), GMOND);
    const out = join(work.dir, 'out-allfail');
    const r = await bindery(['build', repo.dir, '--out', out, '--signing-key', key, '--keep-going', '--json']);
    assert.is(r.code, 1);
    const m = manifestOf(out);
    assert.equal(m.failures.map((f) => `${f.host} ${f.path}`), ['db1 /etc/gmond.conf', 'web1 /etc/gmond.conf', 'web2 /etc/gmond.conf']);
    for (const host of ['db1', 'web1', 'web2']) {
      assert.equal(await listing(join(out, `hosts/${host}.tar.gz`)), [], `${host}: an empty tarball, so its client changes nothing`);
      assert.equal(recordOf(out, m, host).failed.map((f) => f.path), ['/etc/gmond.conf']);
    }
    const v = await run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', join(out, 'manifest.json'), '-sigfile', join(out, 'manifest.json.sig')]);
    assert.is(v.code, 0, v.stderr);
  } finally {
    repo.cleanup();
  }
});

test.run();
