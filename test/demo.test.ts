import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bindery, copyFixture, ROOT, run, tempDir } from './helpers.ts';

const work = tempDir('bindery-demo-');
test.after(() => work.cleanup());
const key = join(work.dir, 'signing-key.pem');
test.before(async () => {
  assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key])).code, 0);
});

test('--skip-validator publishes a path without running its validator, and names the validator in a warning', async () => {
  const repo = copyFixture('../../sample-repo');
  try {
    // visudo rejects this sudoers: only skipping its validator lets the build through.
    appendFileSync(join(repo.dir, 'Cfg/etc/sudoers/sudoers'), 'this is not sudoers syntax\n');
    const out = join(work.dir, 'skip-out');
    const failing = await bindery(['build', repo.dir, '--out', out, '--signing-key', key]);
    assert.is(failing.code, 1, failing.stderr);
    const r = await bindery(['build', repo.dir, '--out', out, '--signing-key', key, '--skip-validator', '/etc/sudoers', '--json']);
    assert.is(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    const skipped = result.warnings.filter((w: { code: string }) => w.code === 'validator-skipped');
    assert.equal(skipped.map((w: { location: { file: string } }) => w.location.file), ['Cfg/etc/sudoers/:test']);
    assert.ok(result.validation.runs > 0, 'the other validators still ran');
  } finally {
    repo.cleanup();
  }
});

test('the demo on a machine without visudo and sshd names the packages, skips exactly those validators and builds', async () => {
  // A mount namespace where both programs are not executable: /dev/null bound over them.
  const probe = await run('unshare', ['-rm', 'true']);
  const asRoot = process.getuid?.() === 0;
  assert.ok(asRoot || probe.code === 0, 'needs root or unprivileged user namespaces (unshare -rm) to hide visudo and sshd');
  const checkout = join(work.dir, 'checkout');
  for (const part of ['bin', 'dist', 'node_modules', 'package.json', 'sample-repo', 'scripts']) cpSync(join(ROOT, part), join(checkout, part), { recursive: true });
  const hide = ['visudo', 'sshd'].map((t) => `for d in /usr/sbin /sbin /usr/bin /bin; do [ -e $d/${t} ] && mount --bind /dev/null $d/${t}; done`).join('; ');
  const script = `${hide}; bash scripts/demo.sh "${join(work.dir, 'demo-out')}"`;
  const r = await run('unshare', [...(asRoot ? ['-m'] : ['-rm']), 'sh', '-c', script], { cwd: checkout, env: { SIGNING_KEY: key } });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, 'visudo is not installed (apt-get install sudo): skipping the validator of /etc/sudoers');
  assert.match(r.stderr, 'sshd is not installed (apt-get install openssh-server): skipping the validator of /etc/ssh/sshd_config');
  assert.match(r.stderr, /Cfg\/etc\/sudoers\/:test/);
  assert.match(r.stderr, /Cfg\/etc\/ssh\/sshd_config\/:test/);
  assert.ok(readFileSync(join(work.dir, 'demo-out', 'hosts', 'web1.example.com.tar.gz')).length > 0);
});

test.run();
