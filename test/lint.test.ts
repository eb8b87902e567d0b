import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bindery, ROOT, run, tempDir } from './helpers.ts';

interface Finding {
  code: string;
  severity: string;
  file?: string;
  line?: number;
  message: string;
}

const GROUPS = `<Groups>
  <Group name="web-server" profile="true"><Group name="web"/><Group name="base"/><Group name="east"/></Group>
  <Group name="db-server" profile="true"><Group name="db"/><Group name="base"/><Group name="west"/></Group>
  <Group name="web-db" profile="true"><Group name="web"/><Group name="db"/><Group name="base"/></Group>
  <Group name="base"><Bundle name="base"/></Group>
  <Group name="web"/>
  <Group name="db"/>
  <Group name="monitoring"/>
  <Group name="legacy"/>
  <Group name="east" category="dc"/>
  <Group name="west" category="dc"/>
</Groups>
`;

const CLIENTS = `<Clients>
  <Client name="web1" profile="web-server" address="192.0.2.10"/>
  <Client name="db1" profile="db-server" address="192.0.2.10"/>
  <Client name="both1" profile="web-db"/>
</Clients>
`;

/** A repository with one instance of each mistake the linter knows. */
function mistakes(): { dir: string; cleanup: () => void } {
  const t = tempDir('bindery-lint-');
  const put = (rel: string, text: string, mode = 0o644) => {
    const abs = join(t.dir, rel);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, text);
    chmodSync(abs, mode);
  };
  put('Metadata/groups.xml', GROUPS);
  put('Metadata/clients.xml', CLIENTS);
  put('Bundler/base.xml', '<Bundle><Path name="/etc/motd"/><Path name="/etc/app.conf"/></Bundle>\n');
  put('Bundler/orphan.xml', '<Bundle><Path name="/etc/motd"/></Bundle>\n');
  put('Cfg/etc/motd/motd', 'hello\n');
  put('Cfg/etc/motd/motd.H_ghost', 'for a client that does not exist\n');
  put('Cfg/etc/motd/motd.G10_nosuchgroup', 'x\n');
  put('Cfg/etc/motd/motd.G10_legacy', 'nobody is in legacy\n');
  put('Cfg/etc/motd/motd.bak', 'no handler owns this\n');
  put('Cfg/etc/motd/motd.cat', '+appended\n');
  put('Cfg/etc/motd/info.xml', '<FileInfo><Info owner="root" group="root" perms="0644"/></FileInfo>\n');
  put('Cfg/etc/app.conf/app.conf.G50_web', 'web\n');
  put('Cfg/etc/app.conf/app.conf.G50_db', 'db\n');
  put('Cfg/etc/dc.conf/dc.conf.G50_east', 'east\n');
  put('Cfg/etc/dc.conf/dc.conf.G50_west', 'west\n');
  put('Cfg/etc/secret/secret.crypt', 'password=hunter2\n');
  put('Cfg/etc/check/check', 'x\n');
  put('Cfg/etc/check/:test', 'test -s "$1"\n', 0o644);
  put('Cfg/root/.ssh/id_rsa.pub/pubkey.xml', '<PublicKey/>\n');
  put('Cfg/etc/tmpl/tmpl.liquid', 'fine\n{% if %}\n');
  put('bcfg2.conf', '[encryption]\nweak = abc123\nstrong = 7yq2VfL0pQ9xW3mN8rT5sK1d\n');
  return t;
}

async function lint(dir: string, ...extra: string[]): Promise<{ code: number; findings: Finding[]; stderr: string; stdout: string }> {
  const r = await bindery(['lint', dir, '--json', ...extra]);
  const doc = r.stdout ? (JSON.parse(r.stdout) as { findings?: Finding[] }) : {};
  return { code: r.code, findings: doc.findings ?? [], stderr: r.stderr, stdout: r.stdout };
}

const has = (fs: Finding[], code: string, file?: string) => fs.some((f) => f.code === code && (file === undefined || f.file === file));

test('lint finds each kind of mistake, with its id, severity and file', async () => {
  const t = mistakes();
  try {
    const { code, findings } = await lint(t.dir);
    assert.is(code, 1, 'errors make the exit code 1');
    const expect: [string, string, string?][] = [
      ['unknown-host', 'warning', 'Cfg/etc/motd/motd.H_ghost'],
      ['unknown-group', 'warning', 'Cfg/etc/motd/motd.G10_nosuchgroup'],
      ['unreachable-group-file', 'warning', 'Cfg/etc/motd/motd.G10_legacy'],
      ['unknown-cfg-file', 'warning', 'Cfg/etc/motd/motd.bak'],
      ['cat-file-used', 'warning', 'Cfg/etc/motd/motd.cat'],
      ['perms-attribute', 'warning', 'Cfg/etc/motd/info.xml'],
      ['ambiguous-priority', 'error', 'Cfg/etc/app.conf/app.conf.G50_db'],
      ['crypt-not-encrypted', 'error', 'Cfg/etc/secret/secret.crypt'],
      ['validator-not-executable', 'error', 'Cfg/etc/check/:test'],
      ['pubkey-without-privkey', 'error', 'Cfg/root/.ssh/id_rsa.pub/pubkey.xml'],
      ['duplicate-address', 'warning', 'Metadata/clients.xml'],
      ['unused-bundle', 'warning', 'Bundler/orphan.xml'],
      ['unused-group', 'info', 'Metadata/groups.xml'],
      ['short-passphrase', 'warning', 'bcfg2.conf'],
      ['template-error', 'error', 'Cfg/etc/tmpl/tmpl.liquid'],
    ];
    for (const [id, severity, file] of expect) {
      const f = findings.find((x) => x.code === id && (file === undefined || x.file === file));
      assert.ok(f, `expected ${id} on ${file}; got ${findings.map((x) => `${x.code}@${x.file}`).join(' ')}`);
      assert.is(f!.severity, severity, id);
    }
    assert.ok(findings.find((f) => f.code === 'perms-attribute')!.line === 1, 'perms= is reported with its line');
    assert.is(findings.find((f) => f.code === 'template-error')!.line, 2, 'a template error is reported at its line');
    assert.ok(findings.find((f) => f.code === 'short-passphrase')!.line === 2, 'the short passphrase is reported at its line of bcfg2.conf');
  } finally {
    t.cleanup();
  }
});

test('lint never prints a passphrase, only its length', async () => {
  const t = mistakes();
  try {
    const r = await bindery(['lint', t.dir]);
    assert.match(r.stdout, /passphrase "weak" is 6 characters/);
    assert.not.match(r.stdout + r.stderr, /abc123/);
    assert.not.match(r.stdout + r.stderr, /7yq2VfL0pQ9xW3mN8rT5sK1d/);
  } finally {
    t.cleanup();
  }
});

test('lint does not call groups of one category ambiguous: no client can be in both', async () => {
  const t = mistakes();
  try {
    const { findings } = await lint(t.dir);
    const dc = findings.filter((f) => f.file?.startsWith('Cfg/etc/dc.conf/'));
    assert.equal(dc, [], JSON.stringify(dc));
  } finally {
    t.cleanup();
  }
});

test('equal priorities are a warning while no client is in both groups', async () => {
  const t = mistakes();
  try {
    writeFileSync(join(t.dir, 'Metadata/clients.xml'), CLIENTS.replace('<Client name="both1" profile="web-db"/>', ''));
    const { findings } = await lint(t.dir);
    assert.ok(has(findings, 'equal-priority', 'Cfg/etc/app.conf/app.conf.G50_db'));
    assert.not.ok(has(findings, 'ambiguous-priority'));
  } finally {
    t.cleanup();
  }
});

test('bindery-lint.conf silences ids per path and changes severities', async () => {
  const t = mistakes();
  try {
    writeFileSync(
      join(t.dir, 'bindery-lint.conf'),
      ['[errors]', 'unused-group = silent', 'cat-file-used = error', '', '[ignore]', 'unknown-host = Cfg/etc/motd/*', 'crypt-not-encrypted = Cfg/etc/secret/**', '* = Cfg/root/**', ''].join('\n'),
    );
    const { findings } = await lint(t.dir);
    assert.not.ok(has(findings, 'unused-group'));
    assert.not.ok(has(findings, 'unknown-host'));
    assert.not.ok(has(findings, 'crypt-not-encrypted'));
    assert.not.ok(has(findings, 'pubkey-without-privkey'), '* silences every id under the glob');
    assert.is(findings.find((f) => f.code === 'cat-file-used')!.severity, 'error');
    assert.ok(has(findings, 'unknown-group'), 'other ids on the same path are kept');
  } finally {
    t.cleanup();
  }
});

test('an unknown id in bindery-lint.conf is a configuration error naming the file and line', async () => {
  const t = mistakes();
  try {
    writeFileSync(join(t.dir, 'bindery-lint.conf'), '[errors]\nno-such-check = silent\n');
    const r = await bindery(['lint', t.dir]);
    assert.is(r.code, 2);
    assert.match(r.stderr, /unknown lint id "no-such-check"/);
    assert.match(r.stderr, /bindery-lint\.conf:2\b/);
  } finally {
    t.cleanup();
  }
});

test('--format github prints workflow annotations with file and line', async () => {
  const t = mistakes();
  try {
    // Annotation paths are relative to the working directory: run the compiled CLI from the repository's parent.
    const r = await run(process.execPath, [join(ROOT, 'bin', 'bindery.js'), 'lint', t.dir, '--format', 'github'], { cwd: dirname(t.dir) });
    const base = t.dir.slice(dirname(t.dir).length + 1);
    assert.ok(r.stdout.split('\n').includes(`::error file=${base}/Cfg/etc/secret/secret.crypt,title=bindery lint crypt-not-encrypted::a .crypt file that is not encrypted: its text is in the repository in the clear and the build cannot decrypt it (hint: encrypt the plain text: rename the file without .crypt, then run bindery crypt encrypt <file> --remove)`), r.stdout);
    assert.match(r.stdout, new RegExp(`::warning file=${base}/Cfg/etc/motd/info.xml,line=1,title=bindery lint perms-attribute::`));
    assert.match(r.stdout, /file=[^,]*%3Atest,/, 'a colon in a file name is escaped');
  } finally {
    t.cleanup();
  }
});

test('a malformed groups.xml is one load-failed error with its line, exit 1', async () => {
  const t = mistakes();
  try {
    writeFileSync(join(t.dir, 'Metadata/groups.xml'), '<Groups>\n  <Group name="x">\n</Groups>\n');
    const { code, findings } = await lint(t.dir);
    assert.is(code, 1);
    assert.is(findings.length, 1);
    assert.is(findings[0]!.code, 'load-failed');
    assert.is(findings[0]!.file, 'Metadata/groups.xml');
    assert.ok(findings[0]!.line! >= 2);
  } finally {
    t.cleanup();
  }
});

test('the sample repository lints without errors', async () => {
  const r = await bindery(['lint', 'sample-repo', '--json']);
  assert.is(r.code, 0, r.stdout);
  assert.is((JSON.parse(r.stdout) as { counts: { error: number } }).counts.error, 0);
});

test.run();
