import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { bindery, ROOT, run, tempDir } from './helpers.ts';
import { decryptWith, encryptText } from '../src/secrets/index.ts';

interface Change {
  path: string;
  kind: string;
  fields: string[];
  hosts: string[];
  groups: string[] | null;
  secret: boolean;
  diff?: string;
  old?: { mode: string; sha256: string };
  new?: { mode: string; sha256: string };
  variants?: unknown[];
}
interface Diff {
  changed: boolean;
  changes: Change[];
  hostsChanged: string[];
}

const work = tempDir('bindery-diff-');
const key = join(work.dir, 'signing-key.pem');
const repo = join(work.dir, 'repo');
const outA = join(work.dir, 'out-a');
const outB = join(work.dir, 'out-b');
const PASSPHRASE = 'correct horse battery staple'; // the sample's [encryption] sample passphrase
/** Every client of the sample (each gets /etc/motd). */
const HOSTS = (readFileSync(join(ROOT, 'sample-repo/Metadata/clients.xml'), 'utf8').match(/<Client /g) ?? []).length;
const NEW_SECRET = 'DB_PASSWORD=s3cr3t-after-the-change';

const build = (r: string, out: string) => bindery(['build', r, '--out', out, '--signing-key', key, '--no-validate', '--json']);

/** The commit under review: a template edit, a mode change, a new secret, a new file, a file dropped from a bundle. */
function change(r: string): void {
  const motd = join(r, 'Cfg/etc/motd/motd.liquid');
  writeFileSync(motd, readFileSync(motd, 'utf8') + 'Reviewed in CI.\n');
  const sudoers = join(r, 'Cfg/etc/sudoers/info.xml');
  writeFileSync(sudoers, readFileSync(sudoers, 'utf8').replace(/mode="0?440"/, 'mode="0400"'));
  writeFileSync(join(r, 'Cfg/etc/app/secret.env/secret.env.crypt'), encryptText(Buffer.from(NEW_SECRET + '\n'), PASSPHRASE) + '\n');
  cpSync(join(r, 'Cfg/etc/resolv.conf'), join(r, 'Cfg/etc/new.conf'), { recursive: true });
  rmSync(join(r, 'Cfg/etc/new.conf/resolv.conf.G50_cluster'));
  writeFileSync(join(r, 'Cfg/etc/new.conf/resolv.conf'), 'brand new\n');
  cpSync(join(r, 'Cfg/etc/new.conf/resolv.conf'), join(r, 'Cfg/etc/new.conf/new.conf'));
  rmSync(join(r, 'Cfg/etc/new.conf/resolv.conf'));
  const base = join(r, 'Bundler/base.xml');
  writeFileSync(base, readFileSync(base, 'utf8').replace('</Bundle>', '  <Path name="/etc/new.conf"/>\n</Bundle>'));
  const web = join(r, 'Bundler/web.xml');
  writeFileSync(web, readFileSync(web, 'utf8').replace(/\s*<Path name="\/etc\/app\/config\.json"\/>/, ''));
}

/** The diff of the two builds, in each format, computed once for the tests that read it. */
let full: Diff;
let markdown: string;
let text: string;

test.before(async () => {
  writeFileSync(key, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
  cpSync(join(ROOT, 'sample-repo'), repo, { recursive: true });
  let r = await build(repo, outA);
  assert.is(r.code, 0, r.stderr);
  change(repo);
  r = await build(repo, outB);
  assert.is(r.code, 0, r.stderr);
  const [j, m, t] = await Promise.all([bindery(['diff', outA, outB, '--repo', repo, '--json']), bindery(['diff', outA, outB, '--repo', repo, '--format', 'markdown']), bindery(['diff', outA, outB])]);
  assert.equal([j.code, m.code, t.code], [1, 1, 1], 'something changed: exit 1 in every format');
  full = JSON.parse(j.stdout) as Diff;
  markdown = m.stdout;
  text = t.stdout;
});
test.after(() => work.cleanup());

async function diffJson(...args: string[]): Promise<{ code: number; d: Diff; stderr: string }> {
  const r = await bindery(['diff', ...args, '--json']);
  return { code: r.code, d: JSON.parse(r.stdout) as Diff, stderr: r.stderr };
}

test('a build compared with itself has no change and exit code 0', async () => {
  const { code, d } = await diffJson(outA, outA);
  assert.is(code, 0);
  assert.is(d.changed, false);
  assert.equal(d.changes, []);
  const same = await bindery(['diff', outA, outA]);
  assert.match(same.stdout, /0 distinct changes/);
});

test('the same template edit on every host is one change, named by group, with one diff', async () => {
  const d = full;
  const motd = d.changes.filter((c) => c.path === '/etc/motd');
  assert.is(motd.length, 1, JSON.stringify(motd.map((c) => c.hosts)));
  assert.is(motd[0]!.hosts.length, HOSTS);
  assert.ok(motd[0]!.groups && motd[0]!.groups.length >= 1, 'the hosts are named by a group');
  assert.ok((motd[0]!.variants?.length ?? 0) > 1, 'each host had its own content');
  assert.match(motd[0]!.diff!, /^\+Reviewed in CI\.$/m);
});

test('a mode change is reported as a mode change, without a content diff', async () => {
  const sudoers = full.changes.find((c) => c.path === '/etc/sudoers')!;
  assert.equal(sudoers.fields, ['mode']);
  assert.is(sudoers.old!.mode, '0440');
  assert.is(sudoers.new!.mode, '0400');
  assert.is(sudoers.diff, undefined);
});

test('added and removed paths are reported per group of hosts', async () => {
  const added = full.changes.find((c) => c.path === '/etc/new.conf')!;
  assert.is(added.kind, 'added');
  assert.match(added.diff!, /^\+brand new$/m);
  const removed = full.changes.find((c) => c.path === '/etc/app/config.json')!;
  assert.is(removed.kind, 'removed');
  assert.equal(removed.groups, ['web']);
});

test('a changed .crypt secret is reported by hash only, in every format', async () => {
  const secret = full.changes.find((c) => c.path === '/etc/app/secret.env')!;
  assert.ok(secret.secret);
  assert.is(secret.diff, undefined);
  assert.is.not(secret.old!.sha256, secret.new!.sha256);
  const before = decryptWith(readFileSync(join(ROOT, 'sample-repo/Cfg/etc/app/secret.env/secret.env.crypt')), PASSPHRASE).toString('utf8');
  const lines = before.split('\n').filter((l) => l.includes('='));
  assert.ok(lines.length > 0);
  for (const [format, out] of [['text', text], ['markdown', markdown], ['json', JSON.stringify(full)]] as const) {
    if (format !== 'json') assert.match(out, /secret content changed \(sha256 [0-9a-f]{12} → [0-9a-f]{12}\)/);
    assert.not.ok(out.includes('s3cr3t-after-the-change'), `${format} shows the new secret`);
    for (const line of lines) assert.not.ok(out.includes(line), `${format} shows the old secret`);
  }
});

test('--format markdown is a summary table with collapsed diffs, short enough for a comment', () => {
  assert.match(markdown, /^\| Path \| Change \| Hosts \|$/m);
  assert.match(markdown, /<details><summary>\/etc\/motd: content changed on \d+ hosts/);
  assert.match(markdown, /```diff\n--- a\/etc\/motd/);
  assert.ok(markdown.length < 65536);
});

test('a directory that is not a build output is exit 2 naming it', async () => {
  const r = await bindery(['diff', repo, outB]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /not a bindery build output/);
  assert.ok(r.stderr.includes(repo));
});

// --rev: build both revisions of a git checkout.

async function git(cwd: string, ...args: string[]) {
  const r = await run('git', ['-c', 'user.email=ci@example.com', '-c', 'user.name=CI', '-c', 'commit.gpgsign=false', ...args], { cwd });
  assert.is(r.code, 0, `git ${args.join(' ')}: ${r.stderr} (git is in the Debian package git)`);
}

test('--rev A..B builds both revisions of a subdirectory of a checkout and compares them', async () => {
  const t = tempDir('bindery-diff-git-');
  try {
    const site = join(t.dir, 'site');
    cpSync(join(ROOT, 'sample-repo'), site, { recursive: true });
    await git(t.dir, 'init', '-q');
    await git(t.dir, 'add', '-A');
    await git(t.dir, 'commit', '-qm', 'before');
    change(site);
    // A private key generated again (its .crypt file deleted) is a secret: hash only.
    rmSync(join(site, 'Cfg/root/.ssh/id_ed25519/id_ed25519.H_node01.cluster.example.com.crypt'));
    await git(t.dir, 'add', '-A');
    await git(t.dir, 'commit', '-qm', 'after');
    const r = await bindery(['diff', site, '--rev', 'HEAD~1..HEAD', '--no-validate', '--json']);
    assert.is(r.code, 1, r.stderr);
    const d = JSON.parse(r.stdout) as Diff;
    assert.ok(d.changes.some((c) => c.path === '/etc/motd' && c.hosts.length === HOSTS));
    const privkey = d.changes.find((c) => c.path === '/root/.ssh/id_ed25519');
    assert.ok(privkey, 'the regenerated key is reported');
    assert.ok(privkey!.secret);
    assert.equal(privkey!.hosts, ['node01.cluster.example.com']);
    assert.not.match(r.stdout, /PRIVATE KEY/);
    const same = await bindery(['diff', site, '--rev', 'HEAD..HEAD', '--no-validate']);
    assert.is(same.code, 0, same.stdout + same.stderr);
    const status = await run('git', ['status', '--porcelain'], { cwd: t.dir });
    assert.is(status.stdout, '', 'the checkout is not touched');
  } finally {
    t.cleanup();
  }
});

test('--rev refuses a revision that git would read as an option', async () => {
  const r = await bindery(['diff', repo, '--rev=--output=/tmp/x..HEAD']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /is not a revision name/);
});

test.run();
