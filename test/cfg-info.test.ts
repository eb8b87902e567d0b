import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { compile } from '../src/pipeline/index.ts';
import { configFromIni, parseIni } from '../src/config/index.ts';
import { FIXTURES, tempDir, writeTree } from './helpers.ts';

const nobundler = join(FIXTURES, 'core-nobundler');

test('without Bundler/ a client gets every entry set that has a file for it (decision 10 (docs/decisions.md))', async () => {
  const r = await compile({ repo: nobundler, jobs: 1, validate: false, generateKeys: false, env: {} });
  const paths = Object.fromEntries(r.hosts.map((h) => [h.host, h.files.map((f) => f.path)]));
  assert.equal(paths, { pc1: ['/etc/hosts', '/etc/legacy', '/etc/pc1-only', '/etc/perm'], srv1: ['/etc/hosts', '/etc/legacy', '/etc/perm', '/etc/server.conf'] });
  assert.equal(r.hosts.flatMap((h) => h.failures), []);
});

test('[mdata] in bcfg2.conf sets the defaults, and a legacy :info file overrides them', async () => {
  const r = await compile({ repo: nobundler, jobs: 1, validate: false, generateKeys: false, env: {} });
  const srv1 = r.hosts.find((h) => h.host === 'srv1')!;
  const info = (p: string) => srv1.files.find((f) => f.path === p)!.info;
  assert.equal([info('/etc/hosts').owner, info('/etc/hosts').group, info('/etc/hosts').mode], ['nobody', 'root', '0600']);
  assert.equal([info('/etc/legacy').owner, info('/etc/legacy').group, info('/etc/legacy').mode], ['daemon', 'adm', '0640'], 'three-digit legacy modes get a leading 0');
  const w = r.warnings.find((d) => d.code === 'legacy-info-line');
  assert.ok(w, 'an unrecognised legacy line is a warning');
  assert.is(w!.file, 'Cfg/etc/legacy/:info');
  assert.is(w!.line, 4);
});

test('info.xml: the first Info after Group/Client/Path conditions wins whole (decision 5 (docs/decisions.md))', async () => {
  const r = await compile({ repo: nobundler, jobs: 1, validate: false, generateKeys: false, env: {} });
  const perm = (host: string) => r.hosts.find((h) => h.host === host)!.files.find((f) => f.path === '/etc/perm')!.info;
  assert.equal([perm('srv1').owner, perm('srv1').mode], ['srv1owner', '0600'], 'attributes it does not set keep the defaults');
  assert.equal([perm('pc1').owner, perm('pc1').mode], ['notserver', '0400'], 'negate inverts a Group condition');
  const several = r.warnings.filter((d) => d.code === 'info-ambiguous' && d.file === 'Cfg/etc/perm/info.xml');
  assert.equal(several.map((d) => d.line).sort(), [6, 9], 'more than one matching Info is a warning at the winning line');
});

test('bcfg2.conf: sections, both separators, comments, continuation lines, defaults', () => {
  const raw = parseIni('# comment\n[server]\nrepository: /srv/bcfg2\nignore_files = *~ *.bak\n  .git\n; other comment\n[encryption]\nprod = one two\n[cfg]\nvalidation = no\n', 'bcfg2.conf');
  const c = configFromIni(raw, 'bcfg2.conf');
  assert.is(c.server.repository, '/srv/bcfg2');
  assert.equal(c.server.ignoreFiles, ['*~', '*.bak', '.git']);
  assert.equal(c.encryption.passphrases, [{ name: 'prod', secret: 'one two' }]);
  assert.is(c.cfg.validation, false);
  assert.is(c.communication.authentication, 'cert+password');
  assert.is(c.mdata.mode, '0644');
});

test('bcfg2.conf errors name the file and line', () => {
  assert.throws(() => parseIni('[server]\nthis is not an option\n', 'bcfg2.conf'), (e: { location: { line: number } }) => e.location.line === 2);
  assert.throws(() => configFromIni({ encryption: { algorithm: 'des_cbc' } }, 'x.conf'), /aes_256_cbc only|not supported/);
  assert.throws(() => configFromIni({ communication: { authentication: 'magic' } }, 'x.conf'), /authentication = magic/);
});

test('perms= is ignored as Bcfg2 1.3 and later ignore it, with one warning per file saying to rename it to mode= (decision 18 (docs/decisions.md))', async () => {
  const t = tempDir();
  try {
    writeTree(t.dir, {
      'Metadata/groups.xml': '<Groups><Group name="base" profile="true"/></Groups>',
      'Metadata/clients.xml': '<Clients><Client name="a" profile="base"/><Client name="b" profile="base"/></Clients>',
      'Cfg/etc/old/old': 'x\n',
      'Cfg/etc/old/info.xml': '<FileInfo>\n  <Info owner="daemon" perms="0755"/>\n</FileInfo>\n',
      'Cfg/etc/both/both': 'x\n',
      'Cfg/etc/both/info.xml': '<FileInfo><Info perms="0777" mode="0600"/></FileInfo>',
      'Cfg/etc/legacy/legacy': 'x\n',
      'Cfg/etc/legacy/:info': 'owner: root\nperms: 0777\n',
    });
    const r = await compile({ repo: t.dir, jobs: 1, validate: false, generateKeys: false, env: {} });
    for (const h of r.hosts) {
      const mode = (p: string) => h.files.find((f) => f.path === p)!.info.mode;
      assert.equal([mode('/etc/old'), mode('/etc/both'), mode('/etc/legacy')], ['0644', '0600', '0644'], `modes for ${h.host}`);
      assert.is(h.files.find((f) => f.path === '/etc/old')!.info.owner, 'daemon', 'the other attributes still apply');
      assert.not.ok('perms' in h.files.find((f) => f.path === '/etc/old')!.info.extra);
    }
    const warned = r.warnings.filter((d) => d.code === 'info-perms-ignored');
    assert.equal(warned.map((d) => `${d.file}:${d.line}`).sort(), ['Cfg/etc/both/info.xml:1', 'Cfg/etc/legacy/:info:2', 'Cfg/etc/old/info.xml:2']);
    assert.match(warned.find((d) => d.file === 'Cfg/etc/old/info.xml')!.message, 'rename it to mode="0755"');
  } finally {
    t.cleanup();
  }
});

test.run();
