import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decryptAny, decryptWith, encryptText, isEncrypted, passphraseNamed, passphrases, type Passphrase } from '../src/secrets/index.ts';
import { configFromIni } from '../src/config/index.ts';
import { BinderyError } from '../src/errors.ts';
import { FIXTURES, ROOT, bindery, binderyCompiled, run, tempDir, writeTree } from './helpers.ts';

const VECTOR = 'U2FsdGVkX18wMTIzNDU2N1Ig+QgyWrcjXR4LZJwCAvY=\n';
const PASS = 'a simple passphrase';
const SECRETS = [PASS, 'bogus one', 'bogus two', 'right'];

/** Run fn, expect a CRYPT BinderyError, and check no secret leaked into it. */
function cryptError(fn: () => unknown, says: RegExp): BinderyError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, BinderyError);
    const err = e as BinderyError;
    assert.is(err.code, 'CRYPT');
    assert.match(err.message, says);
    for (const s of SECRETS) {
      assert.not.ok(err.message.includes(s), `message leaks a secret: ${err.message}`);
      assert.not.ok((err.hint ?? '').includes(s), `hint leaks a secret: ${err.hint}`);
    }
    return err;
  }
  assert.unreachable(`expected an error matching ${says}`);
  throw new Error('unreachable');
}

const list = (...pairs: [string, string][]): Passphrase[] => pairs.map(([name, secret]) => ({ name, secret }));

test('the Bcfg2 test vector: our encryption gives exactly the documented file', () => {
  assert.is(encryptText(Buffer.from('hello world\n'), PASS, Buffer.from('01234567')), VECTOR);
});

test('the Bcfg2 test vector decrypts to "hello world\\n"', () => {
  assert.is(decryptWith(VECTOR, PASS).toString(), 'hello world\n');
});

test('encrypted output is one base64 line plus a newline, and round-trips binary data', () => {
  const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37) % 256));
  const text = encryptText(data, 'right');
  assert.match(text, /^[A-Za-z0-9+/]+={0,2}\n$/);
  assert.ok(isEncrypted(text));
  assert.equal(decryptWith(text, 'right'), data);
  assert.not.equal(encryptText(data, 'right'), text, 'a fresh random salt each time');
});

test('a file made by `openssl enc -aes-256-cbc -md md5 -a -salt` decrypts (wrapped base64 too)', async () => {
  const plain = 'db_password = hunter2\n'.repeat(20); // long enough for openssl to wrap its base64
  const r = await run('openssl', ['enc', '-aes-256-cbc', '-md', 'md5', '-a', '-salt', '-pass', 'pass:right'], { input: plain });
  assert.is(r.code, 0, r.stderr);
  assert.ok(r.stdout.trim().includes('\n'), 'openssl wrapped the base64');
  assert.is(decryptAny(r.stdout, list(['bogus', 'bogus one'], ['ok', 'right']), { requireUtf8: true, file: 'f.crypt' }).toString(), plain);
});

test('a file we write decrypts with `openssl enc -d -aes-256-cbc -md md5 -a -A`', async () => {
  const plain = 'secret line\n'.repeat(30);
  const r = await run('openssl', ['enc', '-d', '-aes-256-cbc', '-md', 'md5', '-a', '-A', '-pass', 'pass:right'], { input: encryptText(Buffer.from(plain), 'right') });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, plain);
});

test('a wrong passphrase is a CRYPT error that names no secret', () => {
  cryptError(() => decryptWith(VECTOR, 'bogus one'), /wrong passphrase/);
});

test('decryptAny tries every passphrase and takes the one that fits', () => {
  const text = encryptText(Buffer.from('payload\n'), 'right');
  const got = decryptAny(text, list(['a', 'bogus one'], ['b', 'right'], ['c', 'bogus two']), { requireUtf8: true, file: 'x.crypt' });
  assert.is(got.toString(), 'payload\n');
});

test('decryptAny with no passphrases says so, naming the file', () => {
  const err = cryptError(() => decryptAny(VECTOR, [], { requireUtf8: true, file: 'Cfg/etc/x/x.crypt' }), /no passphrases are configured/);
  assert.is(err.location.file, 'Cfg/etc/x/x.crypt');
});

test('decryptAny when no passphrase fits lists the names tried, never the secrets', () => {
  cryptError(() => decryptAny(VECTOR, list(['one', 'bogus one'], ['two', 'bogus two']), { requireUtf8: false, file: 'x.crypt' }), /no passphrase yields valid plaintext \(tried one, two\)/);
});

test('corrupt base64, a missing header and truncated ciphertext are each named', () => {
  const good = list(['p', PASS]);
  const opts = { requireUtf8: true, file: 'x.crypt' };
  cryptError(() => decryptAny('U2FsdGVkX1*wMTIz!!', good, opts), /not valid base64/);
  cryptError(() => decryptAny(Buffer.from('plain text, not encrypted at all').toString('base64'), good, opts), /"Salted__" header/);
  const raw = Buffer.from(VECTOR.trim(), 'base64');
  cryptError(() => decryptAny(raw.subarray(0, raw.length - 5).toString('base64'), good, opts), /truncated/);
  cryptError(() => decryptAny(raw.subarray(0, 16).toString('base64'), good, opts), /truncated/);
});

/** A wrong passphrase that nevertheless passes the padding check for this ciphertext (≈1 in 256). */
function luckyWrongPassphrase(text: string): string {
  for (let i = 0; ; i++) {
    try {
      decryptWith(text, `wrong-${i}`);
      return `wrong-${i}`;
    } catch {
      /* keep looking */
    }
  }
}

test('two passphrases yielding valid but different plaintext is an error, not a guess', () => {
  const text = encryptText(Buffer.from('the real content of the file\n'.repeat(4)), 'right', Buffer.from('saltsalt'));
  const lucky = luckyWrongPassphrase(text);
  const both = list(['real', 'right'], ['lucky', lucky]);
  cryptError(() => decryptAny(text, both, { requireUtf8: false, file: 'x.crypt' }), /more than one passphrase yields valid plaintext \(real, lucky\)/);
  // Requiring UTF-8 rejects the garbage, so the text entry decrypts.
  assert.is(decryptAny(text, both, { requireUtf8: true, file: 'x.crypt' }).toString(), 'the real content of the file\n'.repeat(4));
});

test('the same secret under two names is not ambiguous', () => {
  assert.is(decryptAny(VECTOR, list(['a', PASS], ['b', PASS]), { requireUtf8: true, file: 'x' }).toString(), 'hello world\n');
});

test('passphrases: bcfg2.conf order, then BINDERY_PASSPHRASE_<NAME>; env replaces a same-named one, any case', () => {
  const config = configFromIni({ encryption: { algorithm: 'aes_256_cbc', Prod: 'p1', dev: 'd1' } }, 'bcfg2.conf');
  const got = passphrases(config, { BINDERY_PASSPHRASE_PROD: 'from-ci', BINDERY_PASSPHRASE_EXTRA: 'e1', BINDERY_PASSPHRASE_EMPTY: '', PATH: '/bin' });
  assert.equal(got, list(['Prod', 'from-ci'], ['dev', 'd1'], ['extra', 'e1']));
});

test('passphraseNamed finds a name case-insensitively and explains an unknown one', () => {
  const l = list(['Prod', 'p1'], ['dev', 'd1']);
  assert.is(passphraseNamed(l, 'prod').secret, 'p1');
  const err = cryptError(() => passphraseNamed(l, 'nope'), /unknown passphrase name "nope" \(known passphrases: Prod, dev\)/);
  assert.match(err.hint!, /BINDERY_PASSPHRASE_NOPE/);
});

// ---- the CLI: bcfg2-crypt's Cfg mode ----

function repoWithConf(conf: string): { dir: string; cleanup: () => void } {
  const t = tempDir('bindery-secrets-');
  writeFileSync(join(t.dir, 'bcfg2.conf'), conf);
  return t;
}

test('`bindery crypt encrypt` writes <file>.crypt that openssl decrypts; --remove deletes the plaintext', async () => {
  const t = repoWithConf('[encryption]\nonly = right\n');
  try {
    const f = join(t.dir, 'motd');
    writeFileSync(f, 'welcome\n');
    const r = await bindery(['crypt', 'encrypt', f, '--remove']);
    assert.is(r.code, 0, r.stderr);
    assert.not.ok(existsSync(f));
    const o = await run('openssl', ['enc', '-d', '-aes-256-cbc', '-md', 'md5', '-a', '-A', '-pass', 'pass:right', '-in', f + '.crypt']);
    assert.is(o.stdout, 'welcome\n');
    assert.not.ok(r.stderr.includes('right'), 'no secret on stderr');
  } finally {
    t.cleanup();
  }
});

test('`bindery crypt decrypt` restores an openssl-made .crypt.genshi as .genshi, readable only by its owner', async () => {
  const t = repoWithConf('[encryption]\na = bogus one\nb = right\n');
  try {
    const f = join(t.dir, 'motd.crypt.genshi');
    const o = await run('openssl', ['enc', '-aes-256-cbc', '-md', 'md5', '-a', '-salt', '-pass', 'pass:right', '-out', f], { input: 'Hello ${metadata.hostname}\n' });
    assert.is(o.code, 0, o.stderr);
    const r = await bindery(['crypt', 'decrypt', f, '--json']);
    assert.is(r.code, 0, r.stderr);
    assert.is(readFileSync(join(t.dir, 'motd.genshi'), 'utf8'), 'Hello ${metadata.hostname}\n');
    assert.is(JSON.parse(r.stdout).written, join(t.dir, 'motd.genshi'));
    const { statSync } = await import('node:fs');
    assert.is(statSync(join(t.dir, 'motd.genshi')).mode & 0o777, 0o600);
  } finally {
    t.cleanup();
  }
});

test('`bindery crypt encrypt` with several passphrases needs --passphrase; an unknown name is a usage error', async () => {
  const t = repoWithConf('[encryption]\na = bogus one\nb = right\n');
  try {
    const f = join(t.dir, 'motd');
    writeFileSync(f, 'x\n');
    let r = await bindery(['crypt', 'encrypt', f]);
    assert.is(r.code, 2);
    assert.match(r.stderr, /several passphrases \(a, b\)/);
    r = await bindery(['crypt', 'encrypt', f, '--passphrase', 'zzz']);
    assert.is(r.code, 2);
    assert.match(r.stderr, /unknown passphrase name "zzz"/);
    r = await bindery(['crypt', 'encrypt', f, '--passphrase', 'b']);
    assert.is(r.code, 0, r.stderr);
    assert.is(decryptWith(readFileSync(f + '.crypt'), 'right').toString(), 'x\n');
    r = await bindery(['crypt', 'encrypt', f + '.crypt', '--passphrase', 'b']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /already encrypted/);
  } finally {
    t.cleanup();
  }
});

test('`bindery crypt` takes a passphrase from the environment (CI secret stores)', async () => {
  const t = tempDir('bindery-secrets-env-');
  try {
    const f = join(t.dir, 'token');
    writeFileSync(f, 'abc\n');
    const r = await bindery(['crypt', 'encrypt', f, '--config', '/dev/null'], { env: { BINDERY_PASSPHRASE_CI: 'right' } });
    assert.is(r.code, 0, r.stderr);
    assert.is(decryptWith(readFileSync(f + '.crypt'), 'right').toString(), 'abc\n');
  } finally {
    t.cleanup();
  }
});

test('`bindery crypt decrypt` of a damaged file fails with exit 1 and writes nothing', async () => {
  const t = repoWithConf('[encryption]\nonly = right\n');
  try {
    const f = join(t.dir, 'x.crypt');
    writeFileSync(f, encryptText(Buffer.from('data\n'), 'right').slice(0, 30) + '\n');
    const r = await bindery(['crypt', 'decrypt', f]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /truncated/);
    assert.not.ok(existsSync(join(t.dir, 'x')));
  } finally {
    t.cleanup();
  }
});

test('`bindery crypt decrypt` of a text file is not "ambiguous" when a wrong passphrase passes the padding check', async () => {
  const text = encryptText(Buffer.from('the plaintext of a text file\n'.repeat(3)), 'right');
  const t = repoWithConf(`[encryption]\na = right\nb = ${luckyWrongPassphrase(text)}\n`);
  try {
    writeFileSync(join(t.dir, 'x.crypt'), text);
    const r = await bindery(['crypt', 'decrypt', join(t.dir, 'x.crypt')]);
    assert.is(r.code, 0, r.stderr);
    assert.is(readFileSync(join(t.dir, 'x'), 'utf8'), 'the plaintext of a text file\n'.repeat(3));
  } finally {
    t.cleanup();
  }
});

test('`bindery crypt encrypt` refuses a damaged encrypted file too (it base64-decodes to "Salted__")', async () => {
  const t = repoWithConf('[encryption]\nonly = right\n');
  try {
    const f = join(t.dir, 'x');
    writeFileSync(f, encryptText(Buffer.from('data\n'), 'right').slice(0, 40) + '\n');
    const r = await bindery(['crypt', 'encrypt', f]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /already encrypted/);
    assert.not.ok(existsSync(f + '.crypt'));
  } finally {
    t.cleanup();
  }
});

// ---- .crypt files through `bindery build` (fixture secrets-repo, made with openssl) ----

const SITE = 'site passphrase for tests';
const MARKERS = [SITE, 'PLAINTEXT-MARKER', 'wrong one', 'wrong two'];
const work = tempDir('bindery-secrets-build-');
const KEY = join(work.dir, 'signing-key.pem');
test.before(async () => {
  assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', KEY])).code, 0);
});
test.after(() => work.cleanup());

let copies = 0;
/** A copy of the fixture repository, an output directory beside it, and a place for a bcfg2.conf. */
function secretsRepo(): { repo: string; out: string; conf: string } {
  const base = join(work.dir, `r${copies++}`);
  mkdirSync(base);
  cpSync(join(FIXTURES, 'secrets-repo'), join(base, 'repo'), { recursive: true });
  return { repo: join(base, 'repo'), out: join(base, 'out'), conf: join(base, 'bcfg2.conf') };
}

function buildWith(r: { repo: string; out: string }, env: Record<string, string>, ...extra: string[]) {
  return bindery(['build', r.repo, '--out', r.out, '--signing-key', KEY, ...extra], { env });
}

/** No passphrase (right or wrong) and no plaintext in anything the build printed or published. */
function assertNoSecrets(where: string, text: string): void {
  for (const m of MARKERS) assert.not.ok(text.includes(m), `${where} contains "${m}"`);
}

async function fileOf(out: string, host: string, path: string): Promise<string | null> {
  const r = await run('tar', ['-xzOf', join(out, 'hosts', `${host}.tar.gz`), path.slice(1)]);
  return r.code === 0 ? r.stdout : null;
}

test('bindery build decrypts .crypt files and encrypted templates with BINDERY_PASSPHRASE_<NAME>; no secret in its output', async () => {
  const r = secretsRepo();
  const b = await buildWith(r, { BINDERY_PASSPHRASE_SITE: SITE }, '--json');
  assert.is(b.code, 0, b.stderr);
  assert.is(await fileOf(r.out, 'app1', '/etc/db.conf'), 'db_password = PLAINTEXT-MARKER-db\n');
  assert.is(await fileOf(r.out, 'app2', '/etc/greeting'), 'Hello app2, PLAINTEXT-MARKER-template\n');
  assertNoSecrets('stdout', b.stdout);
  assertNoSecrets('stderr', b.stderr);
  const manifest = readFileSync(join(r.out, 'manifest.json'), 'utf8');
  assertNoSecrets('manifest', manifest);

  // Now no passphrase fits: a bind failure naming the file and the names tried, the old output kept.
  writeFileSync(r.conf, '[encryption]\na = wrong one\nb = wrong two\n');
  const failed = await buildWith(r, {}, '--config', r.conf);
  assert.is(failed.code, 1);
  assert.match(failed.stderr, 'error[bind-failed]: Cfg/etc/db.conf/db.conf.crypt, hosts app1, app2, path /etc/db.conf: cannot decrypt: no passphrase yields valid UTF-8 plaintext (tried a, b)');
  assert.match(failed.stderr, 'error[bind-failed]: Cfg/etc/greeting/greeting.liquid.crypt, hosts app1, app2, path /etc/greeting: cannot decrypt');
  assertNoSecrets('stderr', failed.stderr + failed.stdout);
  assert.is(readFileSync(join(r.out, 'manifest.json'), 'utf8'), manifest, 'the previous build is untouched');
});

test('with lax_decryption an undecryptable entry is a warning and left out; the hosts are still published', async () => {
  const r = secretsRepo();
  writeFileSync(r.conf, '[encryption]\nlax_decryption = true\na = wrong one\n');
  const b = await buildWith(r, {}, '--config', r.conf);
  assert.is(b.code, 0, b.stderr);
  assert.match(b.stderr, /warning\[[a-z-]+\]: Cfg\/etc\/db.conf\/db.conf.crypt, .*cannot decrypt: no passphrase yields valid UTF-8 plaintext \(tried a\); the entry is left out for every client that gets it \(lax_decryption\)/);
  assert.match(b.stderr, /warning\[[a-z-]+\]: Cfg\/etc\/greeting\/greeting.liquid.crypt, .*the entry is left out for every client that gets it \(lax_decryption\)/);
  assert.is(b.stderr.split('\n').filter((l) => l.includes('db.conf.crypt')).length, 1, 'one warning per file, not per host');
  for (const host of ['app1', 'app2']) {
    assert.is(await fileOf(r.out, host, '/etc/motd'), 'welcome\n');
    assert.is(await fileOf(r.out, host, '/etc/db.conf'), null, 'never ciphertext or garbage');
    assert.is(await fileOf(r.out, host, '/etc/greeting'), null);
  }
  const manifest = readFileSync(join(r.out, 'manifest.json'), 'utf8');
  assert.equal(JSON.parse(manifest).failures, []);
  assertNoSecrets('stderr', b.stderr + b.stdout);
  assertNoSecrets('manifest', manifest);
});

test('bindery build: two passphrases fitting a binary entry, corrupt base64 and truncated ciphertext are bind failures naming the file', async () => {
  const r = secretsRepo();
  mkdirSync(join(r.repo, 'Cfg/etc/blob'));
  writeFileSync(join(r.repo, 'Cfg/etc/blob/info.xml'), '<FileInfo><Info encoding="base64"/></FileInfo>\n');
  const blob = encryptText(Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 151) % 256)), SITE);
  writeFileSync(join(r.repo, 'Cfg/etc/blob/blob.crypt'), blob);
  writeFileSync(join(r.repo, 'Cfg/etc/db.conf/db.conf.crypt'), 'U2FsdGVkX1*not base64!\n');
  const greeting = readFileSync(join(r.repo, 'Cfg/etc/greeting/greeting.liquid.crypt'), 'utf8').replace(/\s+/g, '');
  writeFileSync(join(r.repo, 'Cfg/etc/greeting/greeting.liquid.crypt'), greeting.slice(0, 60) + '\n');
  writeFileSync(r.conf, `[encryption]\nsite = ${SITE}\nlucky = ${luckyWrongPassphrase(blob)}\n`);
  const b = await buildWith(r, {}, '--config', r.conf);
  assert.is(b.code, 1);
  assert.match(b.stderr, 'error[bind-failed]: Cfg/etc/blob/blob.crypt, hosts app1, app2, path /etc/blob: cannot decrypt: more than one passphrase yields valid plaintext (site, lucky)');
  assert.match(b.stderr, 'error[bind-failed]: Cfg/etc/db.conf/db.conf.crypt, hosts app1, app2, path /etc/db.conf: encrypted data is not valid base64');
  assert.match(b.stderr, 'error[bind-failed]: Cfg/etc/greeting/greeting.liquid.crypt, hosts app1, app2, path /etc/greeting: encrypted data is truncated (29 bytes of ciphertext, not a non-zero multiple of 16)');
  assertNoSecrets('stderr', b.stderr + b.stdout);
});

test('`bindery crypt encrypt` in a repository that manages /etc/bcfg2.conf uses the repository\'s bcfg2.conf, not the directory Cfg/etc/bcfg2.conf/', async () => {
  const t = tempDir();
  try {
    cpSync(join(ROOT, 'sample-repo'), t.dir, { recursive: true });
    writeFileSync(join(t.dir, 'Cfg/etc/issue/issue.H_web1.example.com'), 'web1 only\n');
    writeFileSync(join(t.dir, 'Cfg/etc/bcfg2.conf/bcfg2.conf.H_web1.example.com'), '[server]\nrepository = /srv\n');
    for (const f of ['Cfg/etc/issue/issue.H_web1.example.com', 'Cfg/etc/bcfg2.conf/bcfg2.conf.H_web1.example.com']) {
      const r = await binderyCompiled(['crypt', 'encrypt', join(t.dir, f), '--json']);
      assert.is(r.code, 0, r.stderr);
      assert.is(JSON.parse(r.stdout).passphrase, 'sample', 'the passphrase of the repository\'s bcfg2.conf');
      const o = await run('openssl', ['enc', '-d', '-aes-256-cbc', '-md', 'md5', '-a', '-A', '-pass', 'pass:correct horse battery staple', '-in', join(t.dir, f + '.crypt')]);
      assert.is(o.code, 0, o.stderr);
    }
  } finally {
    t.cleanup();
  }
});

test('outside a repository, crypt takes the nearest bcfg2.conf file above and skips a directory of that name', async () => {
  const t = tempDir();
  try {
    writeTree(t.dir, { 'bcfg2.conf': '[encryption]\nouter = right\n', 'work/bcfg2.conf/keep': '', 'work/sub/file': 'text\n' });
    const r = await binderyCompiled(['crypt', 'encrypt', join(t.dir, 'work/sub/file'), '--json']);
    assert.is(r.code, 0, r.stderr);
    assert.is(JSON.parse(r.stdout).passphrase, 'outer');
  } finally {
    t.cleanup();
  }
});

test.run();
