import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeys, type KeyNeed } from '../src/keys/index.ts';
import { authorizedKeys } from '../src/cfg/index.ts';
import { groupStandIn } from '../src/metadata/index.ts';
import { scanRepo, matches, compareSpecificity, type RepoModel } from '../src/repo/index.ts';
import { loadConfig, configFromIni, type Config } from '../src/config/index.ts';
import { loadMetadata } from '../src/metadata/index.ts';
import { decryptAny, encryptText } from '../src/secrets/index.ts';
import type { CfgFile, ClientMetadata } from '../src/types.ts';
import { ROOT, bindery, copyFixture, run, tempDir } from './helpers.ts';

// ---- helpers ----

interface Loaded {
  dir: string;
  config: Config;
  repo: RepoModel;
  clients: ClientMetadata[];
  needs: KeyNeed[];
  cleanup: () => void;
}

/** A writable copy of a fixture repo, scanned; every client needs every entry set (no Bundler/). */
async function load(fixture: string, edit?: (dir: string) => void, conf?: string): Promise<Loaded> {
  const t = copyFixture(fixture);
  edit?.(t.dir);
  if (conf !== undefined) writeFileSync(join(t.dir, 'bcfg2.conf'), conf);
  return { ...(await rescan(t.dir)), cleanup: t.cleanup };
}

async function rescan(dir: string): Promise<Omit<Loaded, 'cleanup'>> {
  const config = existsSync(join(dir, 'bcfg2.conf')) ? loadConfig(join(dir, 'bcfg2.conf')) : loadConfig(null);
  const repo = await scanRepo(dir, config);
  const clients = [...loadMetadata(dir).clients];
  const needs = clients.map((metadata) => ({ metadata, paths: [...repo.entrySets.keys()] }));
  return { dir, config, repo, clients, needs };
}

function write(dir: string, rel: string, text: string): void {
  mkdirSync(join(dir, rel, '..'), { recursive: true });
  writeFileSync(join(dir, rel), text);
}

const files = (dir: string, rel: string): string[] => (existsSync(join(dir, rel)) ? readdirSync(join(dir, rel)).sort() : []);

/** `ssh-keygen -y` of a private key file: its public key "type base64" (throws with ssh-keygen's message). */
async function sshPublic(file: string, passphrase?: string): Promise<string> {
  const r = await run('ssh-keygen', passphrase === undefined ? ['-y', '-P', '', '-f', file] : ['-y', '-P', passphrase, '-f', file]);
  if (r.code !== 0) throw new Error(`ssh-keygen -y failed for ${file}: ${r.stderr}`);
  return r.stdout.trim().split(/\s+/).slice(0, 2).join(' ');
}

const keyId = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(' ');

/** Does this ssh-keygen still handle DSA keys (OpenSSH ≥ 10 dropped them)? */
async function sshSupportsDsa(): Promise<boolean> {
  const t = tempDir('bindery-dsa-');
  try {
    return (await run('ssh-keygen', ['-q', '-t', 'dsa', '-N', '', '-f', join(t.dir, 'k')])).code === 0;
  } finally {
    t.cleanup();
  }
}

/** A minimal stand-in for the bind of a public key path: the best matching generator's bytes. */
function binder(repo: RepoModel) {
  return (path: string, as: ClientMetadata): Buffer | null => {
    const set = repo.entrySets.get(path);
    const hits = (set?.generators ?? []).filter((g) => matches(g.specificity, as)).sort((a, b) => compareSpecificity(b.specificity, a.specificity));
    return hits[0]?.file.data ?? null;
  };
}

function akContext(l: { repo: RepoModel; clients: ClientMetadata[]; config: Config }) {
  return {
    bindPublicKey: binder(l.repo),
    clients: l.clients,
    groupMetadata: (g: string) => groupStandIn(g, l.clients),
    findClient: (n: string) => l.clients.find((c) => c.hostname === n),
    config: l.config,
  };
}

function akFile(repo: RepoModel, path = '/root/.ssh/authorized_keys'): CfgFile {
  return repo.entrySets.get(path)!.generators.find((g) => g.kind === 'authorized_keys.xml')!;
}

const client = (hostname: string, groups: string[] = [], categories: Record<string, string> = {}): ClientMetadata => ({
  hostname, profile: groups[0] ?? null, groups, bundles: [], categories, aliases: [], addresses: [], uuid: null, password: null, version: null,
});

// ---- key generation ----

test('host keys and group keys are generated once each, under Bcfg2 names, with the .pub sibling', async () => {
  const l = await load('keys-basic');
  try {
    const r = await generateKeys(l.repo, l.needs, l.config, {});
    assert.equal(r.failed, []);
    assert.equal(files(l.dir, 'Cfg/root/.ssh/id_ed25519'), ['id_ed25519.H_a.example.com', 'id_ed25519.H_b.example.com', 'id_ed25519.H_c.example.com', 'info.xml', 'privkey.xml']);
    assert.equal(files(l.dir, 'Cfg/root/.ssh/id_ed25519.pub'), ['id_ed25519.pub.H_a.example.com', 'id_ed25519.pub.H_b.example.com', 'id_ed25519.pub.H_c.example.com', 'pubkey.xml']);
    // category="env": one key per env group, a and b share the dev key
    assert.equal(files(l.dir, 'Cfg/home/deploy/.ssh/id_ecdsa'), ['id_ecdsa.G50_dev', 'id_ecdsa.G50_prod', 'info.xml', 'privkey.xml']);
    assert.equal(files(l.dir, 'Cfg/home/deploy/.ssh/id_ecdsa.pub'), ['id_ecdsa.pub.G50_dev', 'id_ecdsa.pub.G50_prod', 'pubkey.xml']);
    assert.is(r.written.length, 10);
    assert.is(statSync(join(l.dir, 'Cfg/root/.ssh/id_ed25519/id_ed25519.H_a.example.com')).mode & 0o777, 0o600);
  } finally {
    l.cleanup();
  }
});

test('every generated private key loads with ssh-keygen -y, matches its .pub file, whose comment is its repo path', async () => {
  const l = await load('keys-basic');
  try {
    await generateKeys(l.repo, l.needs, l.config, {});
    const priv = 'Cfg/root/.ssh/id_ed25519/id_ed25519.H_b.example.com';
    const pubRel = 'Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_b.example.com';
    const pub = readFileSync(join(l.dir, pubRel), 'utf8');
    assert.match(pub, /^ssh-ed25519 [A-Za-z0-9+/=]+ Cfg\/root\/\.ssh\/id_ed25519\.pub\/id_ed25519\.pub\.H_b\.example\.com\n$/);
    assert.is(await sshPublic(join(l.dir, priv)), keyId(pub));
    // the dev group key has no passphrase; the prod one is protected (c.example.com is in group secure)
    const dev = readFileSync(join(l.dir, 'Cfg/home/deploy/.ssh/id_ecdsa.pub/id_ecdsa.pub.G50_dev'), 'utf8');
    assert.match(dev, /^ecdsa-sha2-nistp384 /);
    assert.is(await sshPublic(join(l.dir, 'Cfg/home/deploy/.ssh/id_ecdsa/id_ecdsa.G50_dev')), keyId(dev));
  } finally {
    l.cleanup();
  }
});

test('a Passphrase (encrypted= in privkey.xml) protects the key: ssh-keygen needs -P to load it', async () => {
  const l = await load('keys-basic');
  try {
    await generateKeys(l.repo, l.needs, l.config, {});
    const prod = join(l.dir, 'Cfg/home/deploy/.ssh/id_ecdsa/id_ecdsa.G50_prod');
    const pub = readFileSync(join(l.dir, 'Cfg/home/deploy/.ssh/id_ecdsa.pub/id_ecdsa.pub.G50_prod'), 'utf8');
    assert.is(await sshPublic(prod, 'deploy key pass'), keyId(pub));
    await sshPublic(prod).then(
      () => assert.unreachable('loaded without its passphrase'),
      (e: Error) => assert.match(e.message, /passphrase/),
    );
  } finally {
    l.cleanup();
  }
});

test('a second run generates nothing', async () => {
  const l = await load('keys-basic');
  try {
    const first = await generateKeys(l.repo, l.needs, l.config, {});
    assert.ok(first.written.length > 0);
    const again = await rescan(l.dir);
    const second = await generateKeys(again.repo, again.needs, again.config, {});
    assert.equal(second.written, []);
    assert.equal(second.diagnostics, []);
  } finally {
    l.cleanup();
  }
});

test('with [sshkeys] passphrase the private key is written as .crypt, and decrypts to a key ssh-keygen loads', async () => {
  const l = await load('keys-basic', undefined, '[encryption]\nkeys = key-encryption-secret\natrest = at-rest-secret\n[sshkeys]\npassphrase = atrest\n');
  try {
    const r = await generateKeys(l.repo, l.needs, l.config, {});
    assert.equal(r.failed, []);
    assert.ok(r.written.includes('Cfg/root/.ssh/id_ed25519/id_ed25519.H_a.example.com.crypt'));
    assert.ok(r.written.includes('Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_a.example.com'), 'the public key is never encrypted');
    const crypt = readFileSync(join(l.dir, 'Cfg/root/.ssh/id_ed25519/id_ed25519.H_a.example.com.crypt'));
    assert.match(crypt.toString(), /^U2FsdGVkX1[A-Za-z0-9+/]+={0,2}\n$/);
    const plain = decryptAny(crypt, [{ name: 'atrest', secret: 'at-rest-secret' }], { requireUtf8: true, file: 'x' });
    const t = tempDir('bindery-keyplain-');
    try {
      writeFileSync(join(t.dir, 'k'), plain, { mode: 0o600 });
      assert.is(await sshPublic(join(t.dir, 'k')), keyId(readFileSync(join(l.dir, 'Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_a.example.com'), 'utf8')));
    } finally {
      t.cleanup();
    }
    const again = await rescan(l.dir);
    assert.equal((await generateKeys(again.repo, again.needs, again.config, {})).written, [], '.crypt keys count as existing');
  } finally {
    l.cleanup();
  }
});

test('rsa, dsa (where ssh-keygen still loads it), ecdsa and ed25519 keys of every size all load with ssh-keygen', async () => {
  const kinds: [string, string][] = [
    ['rsa2048', '<Params type="rsa" bits="2048"/>'],
    ['ecdsa256', '<Params type="ecdsa"/>'],
    ['ecdsa521', '<Params type="ecdsa" bits="521"/>'],
    ['ed', '<Params type="ed25519"/>'],
    ['rsapass', '<Params type="rsa" bits="1024"/><Passphrase>plain pass</Passphrase>'],
  ];
  if (await sshSupportsDsa()) kinds.push(['dsa', '<Params type="dsa" bits="1024"/>']);
  const l = await load('keys-basic', (dir) => {
    for (const [name, params] of kinds) write(dir, `Cfg/keys/${name}/privkey.xml`, `<PrivateKey>${params}</PrivateKey>`);
  });
  try {
    const one = [{ metadata: l.clients[0]!, paths: kinds.map(([n]) => `/keys/${n}`) }];
    const r = await generateKeys(l.repo, one, l.config, {});
    assert.equal(r.failed, []);
    for (const [name] of kinds) {
      const pub = readFileSync(join(l.dir, `Cfg/keys/${name}.pub/${name}.pub.H_a.example.com`), 'utf8');
      assert.is(await sshPublic(join(l.dir, `Cfg/keys/${name}/${name}.H_a.example.com`), name === 'rsapass' ? 'plain pass' : undefined), keyId(pub), name);
    }
    assert.match(readFileSync(join(l.dir, 'Cfg/keys/ecdsa521.pub/ecdsa521.pub.H_a.example.com'), 'utf8'), /^ecdsa-sha2-nistp521 /);
    assert.match(readFileSync(join(l.dir, 'Cfg/keys/rsa2048.pub/rsa2048.pub.H_a.example.com'), 'utf8'), /^ssh-rsa /);
  } finally {
    l.cleanup();
  }
});

test('specificity follows Bcfg2: perhost overrides the category, priority sets the G prefix, no group in the category means a host key', async () => {
  const l = await load('keys-basic', (dir) => {
    write(dir, 'Cfg/k/perhost/privkey.xml', '<PrivateKey category="env" perhost="TRUE"><Params type="ed25519"/></PrivateKey>');
    write(dir, 'Cfg/k/prio/privkey.xml', '<PrivateKey category="env" priority="5"><Params type="ed25519"/></PrivateKey>');
    write(dir, 'Cfg/k/nocat/privkey.xml', '<PrivateKey category="nosuch"><Params type="ed25519"/></PrivateKey>');
  });
  try {
    const r = await generateKeys(l.repo, [{ metadata: l.clients[0]!, paths: ['/k/perhost', '/k/prio', '/k/nocat'] }], l.config, {});
    assert.equal(files(l.dir, 'Cfg/k/perhost'), ['perhost.H_a.example.com', 'privkey.xml']);
    assert.equal(files(l.dir, 'Cfg/k/prio'), ['prio.G05_dev', 'privkey.xml']);
    assert.equal(files(l.dir, 'Cfg/k/nocat'), ['nocat.H_a.example.com', 'privkey.xml']);
    assert.ok(r.diagnostics.some((d) => d.code === 'key-no-group-in-category' && d.file === 'Cfg/k/nocat/privkey.xml'));
  } finally {
    l.cleanup();
  }
});

test('an existing matching key is used as is; a missing public half is derived from it', async () => {
  const l = await load('keys-basic');
  try {
    await generateKeys(l.repo, l.needs, l.config, {});
    const pubRel = 'Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_a.example.com';
    const before = readFileSync(join(l.dir, pubRel), 'utf8');
    rmSync(join(l.dir, pubRel));
    const again = await rescan(l.dir);
    const r = await generateKeys(again.repo, again.needs, again.config, {});
    assert.equal(r.written, [pubRel]);
    assert.is(readFileSync(join(l.dir, pubRel), 'utf8'), before);
  } finally {
    l.cleanup();
  }
});

test('a client that asks only for the public key is served an existing one, even if its private key is gone', async () => {
  const l = await load('keys-basic');
  try {
    await generateKeys(l.repo, l.needs, l.config, {});
    rmSync(join(l.dir, 'Cfg/root/.ssh/id_ed25519/id_ed25519.H_a.example.com'));
    const again = await rescan(l.dir);
    const r = await generateKeys(again.repo, [{ metadata: again.clients[0]!, paths: ['/root/.ssh/id_ed25519.pub'] }], again.config, {});
    assert.equal(r.written, []);
  } finally {
    l.cleanup();
  }
});

test('a public key that does not belong to a newly generated private key is replaced, with a warning', async () => {
  const l = await load('keys-basic');
  try {
    await generateKeys(l.repo, l.needs, l.config, {});
    rmSync(join(l.dir, 'Cfg/root/.ssh/id_ed25519/id_ed25519.H_a.example.com'));
    const again = await rescan(l.dir);
    const r = await generateKeys(again.repo, again.needs, again.config, {});
    assert.ok(r.diagnostics.some((d) => d.code === 'key-public-replaced'));
    const pub = readFileSync(join(l.dir, 'Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_a.example.com'), 'utf8');
    assert.is(await sshPublic(join(l.dir, 'Cfg/root/.ssh/id_ed25519/id_ed25519.H_a.example.com')), keyId(pub));
  } finally {
    l.cleanup();
  }
});

test('authorized_keys Allows make the keys they name get generated, only where a pubkey.xml exists', async () => {
  const l = await load('keys-basic', (dir) => {
    write(dir, 'Cfg/k/nopub/privkey.xml', '<PrivateKey><Params type="ed25519"/></PrivateKey>');
    write(dir, 'Cfg/etc/ak/authorized_keys.xml', '<AuthorizedKeys><Allow from="/root/.ssh/id_ed25519.pub" host="c.example.com"/><Allow from="/k/nopub.pub" host="c.example.com"/></AuthorizedKeys>');
  });
  try {
    // only a.example.com asks for anything: the authorized_keys entry
    const r = await generateKeys(l.repo, l.clients.map((metadata, i) => ({ metadata, paths: i === 0 ? ['/etc/ak'] : [] })), l.config, {});
    assert.equal(r.written, ['Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_c.example.com', 'Cfg/root/.ssh/id_ed25519/id_ed25519.H_c.example.com']);
  } finally {
    l.cleanup();
  }
});

test('members="all" generates the key of every member of the group', async () => {
  const l = await load('keys-basic', (dir) => {
    write(dir, 'Cfg/etc/ak/authorized_keys.xml', '<AuthorizedKeys><Allow from="/root/.ssh/id_ed25519.pub" group="web" members="all"/></AuthorizedKeys>');
  });
  try {
    const r = await generateKeys(l.repo, l.clients.map((metadata, i) => ({ metadata, paths: i === 2 ? ['/etc/ak'] : [] })), l.config, {});
    assert.equal(files(l.dir, 'Cfg/root/.ssh/id_ed25519.pub'), ['id_ed25519.pub.H_a.example.com', 'id_ed25519.pub.H_b.example.com', 'id_ed25519.pub.H_c.example.com', 'pubkey.xml']);
    assert.is(r.written.length, 6);
  } finally {
    l.cleanup();
  }
});

// ---- bad input ----

test('bad privkey.xml input fails that key with a message naming the file and line; other keys are still made', async () => {
  const l = await load('keys-basic', (dir) => {
    write(dir, 'Cfg/bad/type/privkey.xml', '<PrivateKey>\n  <Params type="rsa1"/>\n</PrivateKey>');
    write(dir, 'Cfg/bad/rsabits/privkey.xml', '<PrivateKey><Params type="rsa" bits="512"/></PrivateKey>');
    write(dir, 'Cfg/bad/dsabits/privkey.xml', '<PrivateKey><Params type="dsa" bits="2048"/></PrivateKey>');
    write(dir, 'Cfg/bad/ecbits/privkey.xml', '<PrivateKey><Params type="ecdsa" bits="300"/></PrivateKey>');
    write(dir, 'Cfg/bad/nan/privkey.xml', '<PrivateKey><Params bits="lots"/></PrivateKey>');
    write(dir, 'Cfg/bad/prio/privkey.xml', '<PrivateKey category="env" priority="-1"/>');
    write(dir, 'Cfg/bad/xml/privkey.xml', '<PrivateKey><Params></PrivateKey>');
    write(dir, 'Cfg/bad/pass/privkey.xml', '<PrivateKey><Params type="ed25519"/><Passphrase encrypted="nosuch">U2FsdGVkX18wMTIzNDU2N1Ig+QgyWrcjXR4LZJwCAvY=</Passphrase></PrivateKey>');
    write(dir, 'Cfg/bad/orphan.pub/pubkey.xml', '<PublicKey/>');
    write(dir, 'Cfg/bad/notpub/pubkey.xml', '<PublicKey/>');
  });
  try {
    const paths = ['/bad/type', '/bad/rsabits', '/bad/dsabits', '/bad/ecbits', '/bad/nan', '/bad/prio', '/bad/xml', '/bad/pass', '/bad/orphan.pub', '/bad/notpub', '/root/.ssh/id_ed25519'];
    const r = await generateKeys(l.repo, [{ metadata: l.clients[0]!, paths }], l.config, {});
    const byFile = (f: string) => r.failed.filter((d) => d.file === f).map((d) => d.message).join(' | ');
    assert.match(byFile('Cfg/bad/type/privkey.xml'), /unknown key type "rsa1"/);
    assert.is(r.failed.find((d) => d.file === 'Cfg/bad/type/privkey.xml')!.line, 2);
    assert.match(byFile('Cfg/bad/rsabits/privkey.xml'), /bits="512" is not a valid size for a rsa key.*between 1024 and 16384/);
    assert.match(byFile('Cfg/bad/dsabits/privkey.xml'), /bits="2048".*dsa/);
    assert.match(byFile('Cfg/bad/ecbits/privkey.xml'), /256, 384 or 521/);
    assert.match(byFile('Cfg/bad/nan/privkey.xml'), /bits="lots"/);
    assert.match(byFile('Cfg/bad/prio/privkey.xml'), /priority="-1" is not a positive integer/);
    assert.match(byFile('Cfg/bad/xml/privkey.xml'), /malformed XML/);
    assert.match(byFile('Cfg/bad/pass/privkey.xml'), /unknown passphrase name "nosuch"/);
    assert.match(byFile('Cfg/bad/orphan.pub/pubkey.xml'), /pubkey\.xml needs a privkey\.xml in Cfg\/bad\/orphan\//);
    assert.match(byFile('Cfg/bad/notpub/pubkey.xml'), /does not end in \.pub/);
    for (const d of r.failed) assert.is(d.host, 'a.example.com');
    assert.ok(r.written.includes('Cfg/root/.ssh/id_ed25519/id_ed25519.H_a.example.com'), 'the good key is still generated');
    assert.equal(files(l.dir, 'Cfg/bad/type'), ['privkey.xml'], 'nothing written for a bad spec');
  } finally {
    l.cleanup();
  }
});

test('a Passphrase that does not decrypt fails the key; with lax_decryption it is a warning and no key', async () => {
  const wrong = encryptText(Buffer.from('x'), 'not the keys secret').trim();
  const l = await load('keys-basic', (dir) => {
    write(dir, 'Cfg/p/strict/privkey.xml', `<PrivateKey><Params type="ed25519"/><Passphrase encrypted="keys">${wrong}</Passphrase></PrivateKey>`);
    write(dir, 'Cfg/p/lax/privkey.xml', `<PrivateKey lax_decryption="true"><Params type="ed25519"/><Passphrase encrypted="keys">${wrong}</Passphrase></PrivateKey>`);
  });
  try {
    const r = await generateKeys(l.repo, [{ metadata: l.clients[0]!, paths: ['/p/strict', '/p/lax'] }], l.config, {});
    assert.equal(r.failed.map((d) => d.file), ['Cfg/p/strict/privkey.xml']);
    assert.ok(r.diagnostics.some((d) => d.code === 'key-passphrase-undecryptable' && d.file === 'Cfg/p/lax/privkey.xml'));
    assert.equal(r.written, []);
    for (const d of r.diagnostics) assert.not.ok(d.message.includes('key-encryption-secret'));
  } finally {
    l.cleanup();
  }
});

test('an unknown [sshkeys] passphrase name fails key generation with a clear message', async () => {
  const l = await load('keys-basic', undefined, '[sshkeys]\npassphrase = missing\n');
  try {
    const r = await generateKeys(l.repo, [{ metadata: l.clients[0]!, paths: ['/root/.ssh/id_ed25519'] }], l.config, {});
    assert.is(r.failed.length, 1);
    assert.match(r.failed[0]!.message, /unknown passphrase name "missing"/);
    assert.equal(r.written, []);
  } finally {
    l.cleanup();
  }
});

test('a read-only repository fails the keys it needs with a message saying so', async () => {
  const l = await load('keys-basic');
  try {
    const dirs = ['Cfg/root/.ssh/id_ed25519', 'Cfg/root/.ssh/id_ed25519.pub', 'Cfg/home/deploy/.ssh/id_ecdsa', 'Cfg/home/deploy/.ssh/id_ecdsa.pub', 'Cfg/root/.ssh/authorized_keys'];
    chmodSync(l.dir, 0o755);
    if (process.getuid?.() === 0) {
      // root ignores permission bits: run `bindery keys` as nobody on a repo it can read but not write
      const r = await bindery(['keys', l.dir, '--json'], { uid: 65534 });
      assert.is(r.code, 1, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.written, []);
      assert.match(out.errors[0].text, /the repository is not writable \(EACCES\)/);
    } else {
      for (const d of dirs) chmodSync(join(l.dir, d), 0o555);
      const r = await generateKeys(l.repo, l.needs, l.config, {});
      for (const d of dirs) chmodSync(join(l.dir, d), 0o755);
      assert.ok(r.failed.length > 0);
      assert.match(r.failed[0]!.message, /the repository is not writable/);
    }
    assert.equal(files(l.dir, 'Cfg/root/.ssh/id_ed25519'), ['info.xml', 'privkey.xml'], 'no temporary files left behind');
  } finally {
    l.cleanup();
  }
});

/** Every file name under dir, recursively (to find left-over temporary files). */
function allNames(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? allNames(join(dir, e.name)) : [e.name]));
}

test('a full disk (a file size limit on the process) fails the keys, leaves no temporary files, and never claims every key exists', async () => {
  const repo = copyFixture('keys-basic');
  try {
    const cli = [join(ROOT, 'bin', 'bindery.js'), 'keys', repo.dir];
    // RLIMIT_FSIZE: a write past 64 bytes fails with EFBIG, as a full disk fails one with ENOSPC.
    const limited = await run('prlimit', ['--fsize=64', process.execPath, ...cli, '--json']).catch((e: Error) => {
      throw new Error(`prlimit is needed (Debian package util-linux): ${e.message}`);
    });
    assert.is(limited.code, 1, limited.stderr);
    const out = JSON.parse(limited.stdout);
    assert.is(out.ok, false);
    assert.ok(out.errors.length > 0);
    assert.match(out.errors[0].text, /no space \(EFBIG: the disk is full, a quota or a file size limit was reached\)/);
    assert.equal(allNames(join(repo.dir, 'Cfg')).filter((n) => n.startsWith('.#')), [], 'no temporary files left behind');
    const human = await run('prlimit', ['--fsize=64', process.execPath, ...cli]);
    assert.is(human.code, 1);
    assert.not.match(human.stderr + human.stdout, 'every key clients need exists');
    assert.match(human.stderr + human.stdout, /\d+ keys? clients need could not be generated/);
    const again = await run(process.execPath, [...cli, '--json']);
    assert.is(again.code, 0, again.stderr);
    assert.ok(JSON.parse(again.stdout).written.length > 0, 'with space again, the next run writes the keys');
  } finally {
    repo.cleanup();
  }
});

// ---- races ----

test('two builds racing for the same keys: one key wins and both agree on it', async () => {
  const l = await load('keys-basic');
  try {
    const [r1, r2] = await Promise.all([generateKeys(l.repo, l.needs, l.config, {}), generateKeys(l.repo, l.needs, l.config, {})]);
    assert.equal([...r1.failed, ...r2.failed], []);
    const ours = (r: typeof r1) => r.written.filter((f) => !r.adopted.includes(f));
    const privs = [...ours(r1), ...ours(r2)].filter((f) => !f.includes('.pub/'));
    assert.is(privs.length, 5, 'each private key written by exactly one build');
    assert.is(new Set(privs).size, 5);
    assert.equal(r1.written, r2.written, 'both builds know every new file, written or adopted');
    assert.is(r1.adopted.length + r2.adopted.length, 10, 'each of the 10 files written by one build, adopted by the other');
    for (const host of ['a', 'b', 'c']) {
      const pub = readFileSync(join(l.dir, `Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_${host}.example.com`), 'utf8');
      assert.is(await sshPublic(join(l.dir, `Cfg/root/.ssh/id_ed25519/id_ed25519.H_${host}.example.com`)), keyId(pub));
    }
    assert.equal(files(l.dir, 'Cfg/root/.ssh/id_ed25519').filter((f) => f.startsWith('.')), [], 'no temporary files left');
  } finally {
    l.cleanup();
  }
});

test('`bindery keys` and `bindery build` racing on one repo: each key written once, and the build ships the key on disk', async () => {
  const t = copyFixture('keys-basic');
  try {
    const signing = join(t.dir, 'signing.pem');
    assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', signing])).code, 0);
    const out = join(t.dir, 'out');
    const [k, b] = await Promise.all([bindery(['keys', t.dir, '--json']), bindery(['build', t.dir, '--out', out, '--signing-key', signing, '--json'])]);
    assert.is(k.code, 0, k.stderr);
    assert.is(b.code, 0, b.stderr);
    const keys = JSON.parse(k.stdout);
    const build = JSON.parse(b.stdout);
    const adoptedByBuild = build.warnings.filter((w: { code: string }) => w.code === 'key-adopted').map((w: { location: { file: string } }) => w.location.file);
    const privs = [...keys.written, ...build.keysWritten.filter((f: string) => !adoptedByBuild.includes(f))].filter((f: string) => !f.includes('.pub/'));
    assert.is(privs.length, 5, `each private key written once: ${privs.join(', ')}`);
    assert.is(new Set(privs).size, 5);
    const x = join(t.dir, 'x');
    mkdirSync(x);
    assert.is((await run('tar', ['-xzf', join(out, 'hosts', 'c.example.com.tar.gz'), '-C', x])).code, 0);
    assert.equal(readFileSync(join(x, 'root/.ssh/id_ed25519')), readFileSync(join(t.dir, 'Cfg/root/.ssh/id_ed25519/id_ed25519.H_c.example.com')));
    assert.equal(readFileSync(join(x, 'home/deploy/.ssh/id_ecdsa')), readFileSync(join(t.dir, 'Cfg/home/deploy/.ssh/id_ecdsa/id_ecdsa.G50_prod')));
    const again = await bindery(['keys', t.dir, '--json']);
    assert.is(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).written, []);
  } finally {
    t.cleanup();
  }
});

// ---- authorized_keys ----

test('`bindery build` ships the generated keys and authorized_keys: ssh-keygen loads the private key and reads authorized_keys', async () => {
  const t = copyFixture('keys-basic');
  try {
    const key = join(t.dir, 'signing.pem');
    assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key])).code, 0);
    const out = join(t.dir, 'out');
    const r = await bindery(['build', t.dir, '--out', out, '--signing-key', key, '--json']);
    assert.is(r.code, 0, r.stderr);
    assert.is(JSON.parse(r.stdout).keysWritten.length, 10);
    const x = join(t.dir, 'x');
    mkdirSync(x);
    assert.is((await run('tar', ['-xzf', join(out, 'hosts', 'c.example.com.tar.gz'), '-C', x])).code, 0);
    assert.is(statSync(join(x, 'root/.ssh/id_ed25519')).mode & 0o777, 0o600, 'info.xml gives the private key mode 0600');
    assert.is(await sshPublic(join(x, 'root/.ssh/id_ed25519')), keyId(readFileSync(join(x, 'root/.ssh/id_ed25519.pub'), 'utf8')));
    assert.is(await sshPublic(join(x, 'home/deploy/.ssh/id_ecdsa'), 'deploy key pass'), keyId(readFileSync(join(x, 'home/deploy/.ssh/id_ecdsa.pub'), 'utf8')));
    const ak = await run('ssh-keygen', ['-l', '-f', join(x, 'root/.ssh/authorized_keys')]);
    assert.is(ak.code, 0, ak.stderr);
    assert.is(ak.stdout.trim().split('\n').length, 6);
    const again = await bindery(['build', t.dir, '--out', out, '--signing-key', key, '--json']);
    assert.is(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).keysWritten, [], 'the second build generates nothing');
  } finally {
    t.cleanup();
  }
});

test('authorized_keys from the fixture: own key, another host with options, a group key, every member of a group, a literal key', async () => {
  const l = await load('keys-basic');
  try {
    await generateKeys(l.repo, l.needs, l.config, {});
    const s = await rescan(l.dir);
    const pub = (rel: string) => keyId(readFileSync(join(l.dir, rel), 'utf8')) + ' ' + rel;
    const c = s.clients.find((m) => m.hostname === 'c.example.com')!;
    const out = authorizedKeys(akFile(s.repo), c, akContext(s));
    const admin = readFileSync(join(l.dir, 'Cfg/root/.ssh/authorized_keys/authorized_keys.xml'), 'utf8').match(/ssh-ed25519 \S+ admin@example\.com/)![0];
    assert.is(
      out.data.toString(),
      [
        pub('Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_c.example.com'),
        `from="10.0.0.0/8",no-pty ${pub('Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_c.example.com')}`,
        pub('Cfg/home/deploy/.ssh/id_ecdsa.pub/id_ecdsa.pub.G50_prod'),
        `restrict ${pub('Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_a.example.com')}`,
        `restrict ${pub('Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_b.example.com')}`,
        admin,
      ].join('\n'),
      'lines joined by \\n, no trailing newline (decision 12 (docs/decisions.md))',
    );
    assert.equal(out.diagnostics, []);
    // ssh-keygen -l reads every line of the assembled file
    const t = tempDir('bindery-ak-');
    try {
      writeFileSync(join(t.dir, 'authorized_keys'), out.data);
      const r = await run('ssh-keygen', ['-l', '-f', join(t.dir, 'authorized_keys')]);
      assert.is(r.code, 0, r.stderr);
      assert.is(r.stdout.trim().split('\n').length, 6);
    } finally {
      t.cleanup();
    }
  } finally {
    l.cleanup();
  }
});

test('authorized_keys options and literal keys', async () => {
  const l = await load('keys-basic', (dir) => {
    write(
      dir,
      'Cfg/etc/ak/authorized_keys.xml',
      `<AuthorizedKeys>
  <Allow>ssh-rsa publickey /foo/bar<Option name="foo"/></Allow>
  <Allow from="/root/.ssh/id_ed25519.pub">
    <Option name="foo" value="foo"/><Option name="bar"/><Option name="baz" value="baz=baz"/>
  </Allow>
  <Allow from="/root/.ssh/id_ed25519.pub"><Params a="b" c=""/></Allow>
</AuthorizedKeys>`,
    );
  });
  try {
    const pubRel = 'Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_a.example.com';
    write(l.dir, pubRel, 'ssh-ed25519 AAAAkey comment\n');
    const s = await rescan(l.dir);
    const out = authorizedKeys(akFile(s.repo, '/etc/ak'), s.clients[0]!, akContext(s));
    assert.is(out.data.toString(), 'foo ssh-rsa publickey /foo/bar\nfoo=foo,bar,baz=baz=baz ssh-ed25519 AAAAkey comment\na=b,c ssh-ed25519 AAAAkey comment');
    assert.ok(out.diagnostics.some((d) => d.code === 'authorized-keys-params-deprecated'));
    assert.ok(out.diagnostics.some((d) => d.code === 'authorized-keys-bad-literal' && d.line === 2));
  } finally {
    l.cleanup();
  }
});

test('authorized_keys warnings: empty Allow, no key, empty key, no group in category, unknown host, empty group — none fail the file', async () => {
  const l = await load('keys-basic', (dir) => {
    write(
      dir,
      'Cfg/etc/ak/authorized_keys.xml',
      `<AuthorizedKeys>
  <Allow/>
  <Allow from="/nowhere.pub"/>
  <Allow from="/empty.pub"/>
  <Allow from="/root/.ssh/id_ed25519.pub" category="nosuch"/>
  <Allow from="/root/.ssh/id_ed25519.pub" host="ghost"/>
  <Allow from="/root/.ssh/id_ed25519.pub" group="nobody" members="all"/>
</AuthorizedKeys>`,
    );
    write(dir, 'Cfg/empty.pub/empty.pub', '  \n');
  });
  try {
    const out = authorizedKeys(akFile(l.repo, '/etc/ak'), l.clients[0]!, akContext(l));
    assert.is(out.data.length, 0);
    assert.equal(out.diagnostics.map((d) => [d.code, d.line]), [
      ['authorized-keys-empty-allow', 2],
      ['authorized-keys-no-key', 3],
      ['authorized-keys-empty-key', 4],
      ['authorized-keys-no-group-in-category', 5],
      ['authorized-keys-unknown-host', 6],
      ['authorized-keys-empty-group', 7],
    ]);
    for (const d of out.diagnostics) {
      assert.is(d.file, 'Cfg/etc/ak/authorized_keys.xml');
      assert.is(d.host, 'a.example.com');
      assert.is(d.path, '/etc/ak');
    }
  } finally {
    l.cleanup();
  }
});

test('with [sshkeys] category set, a client in no group of it gets an empty file and nothing is bound', () => {
  const config = configFromIni({ sshkeys: { category: 'env' } }, null);
  const file = { kind: 'authorized_keys.xml', role: 'generator', specificity: { kind: 'all' }, file: { rel: 'Cfg/x/authorized_keys.xml', abs: '/x', mode: 0o644, data: Buffer.from('<AuthorizedKeys><Allow from="/k.pub"/></AuthorizedKeys>') } } as const;
  let bound = 0;
  const out = authorizedKeys(file, client('lonely'), { bindPublicKey: () => (bound++, Buffer.from('k')), clients: [], groupMetadata: (g) => groupStandIn(g, []), findClient: () => undefined, config });
  assert.is(out.data.length, 0);
  assert.is(bound, 0);
});

test('group= binds as the group stand-in: hostname dummy, only that group, its category', () => {
  const clients = [client('a', ['dev'], { env: 'dev' })];
  const seen: ClientMetadata[] = [];
  const file = { kind: 'authorized_keys.xml', role: 'generator', specificity: { kind: 'all' }, file: { rel: 'Cfg/x/authorized_keys.xml', abs: '/x', mode: 0o644, data: Buffer.from('<AuthorizedKeys><Allow from="/k.pub" group="dev"/></AuthorizedKeys>') } } as const;
  authorizedKeys(file, clients[0]!, { bindPublicKey: (_p, as) => (seen.push(as), null), clients, groupMetadata: (g) => groupStandIn(g, clients), findClient: () => undefined, config: loadConfig(null) });
  assert.is(seen[0]!.hostname, 'dummy');
  assert.equal(seen[0]!.groups, ['dev']);
  assert.equal(seen[0]!.categories, { env: 'dev' });
});

test('an Option without a name, or a bad members=, fails the authorized_keys entry rather than widen access', () => {
  const mk = (xml: string) => ({ kind: 'authorized_keys.xml', role: 'generator', specificity: { kind: 'all' }, file: { rel: 'Cfg/x/authorized_keys.xml', abs: '/x', mode: 0o644, data: Buffer.from(xml) } }) as const;
  const ctx = { bindPublicKey: () => Buffer.from('ssh-ed25519 AAAA'), clients: [], groupMetadata: (g: string) => groupStandIn(g, []), findClient: () => undefined, config: loadConfig(null) };
  assert.throws(() => authorizedKeys(mk('<AuthorizedKeys><Allow from="/k.pub"><Option value="x"/></Allow></AuthorizedKeys>'), client('a'), ctx), /Option> without name/);
  assert.throws(() => authorizedKeys(mk('<AuthorizedKeys><Allow from="/k.pub" group="g" members="some"/></AuthorizedKeys>'), client('a'), ctx), /members="some"/);
  assert.throws(() => authorizedKeys(mk('<Keys/>'), client('a'), ctx), /expected <AuthorizedKeys>/);
});

test.run();
