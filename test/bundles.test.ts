import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { loadBundles, planClient, type Bundle } from '../src/bundles/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { scanRepo } from '../src/repo/index.ts';
import { MapFs } from './mapfs.ts';
import type { ClientMetadata } from '../src/types.ts';
import { FIXTURES, throwsBindery as throws } from './helpers.ts';

const config = loadConfig(null);
const scan = (dir: string) => scanRepo(dir, config);
const bundles = loadBundles(await scan(join(FIXTURES, 'bundles-basic')))!;
const traversal = await scan(join(FIXTURES, 'bundles-traversal'));

function host(hostname: string, groups: string[], clientBundles: string[]): ClientMetadata {
  return { hostname, profile: null, groups, bundles: clientBundles, categories: {}, aliases: [], addresses: [], uuid: null, password: null, version: null };
}

const names = (plan: { paths: readonly { name: string }[] }) => plan.paths.map((p) => p.name);

/** A repository in memory whose Bundler/ holds `files`, as the scan reads it. */
async function bundlerWith(files: Record<string, string>, fn: (repo: Awaited<ReturnType<typeof scan>>) => void): Promise<void> {
  const fs = new MapFs(Object.fromEntries(Object.entries(files).map(([name, text]) => [`Bundler/${name}`, text])));
  fn(await scanRepo(fs, config));
}

test('bundle files are Bundler/*.xml and *.genshi, named after the file', () => {
  assert.equal([...bundles.keys()].sort(), ['common', 'legacy', 'order', 'templated', 'web']);
  const web = bundles.get('web') as Bundle;
  assert.is(web.file, 'Bundler/web.xml');
  assert.is(web.root.name, 'Bundle');
});

test('a repository without Bundler/ has no bundles (null)', async () => {
  assert.is(loadBundles(await scan(join(FIXTURES, 'metadata-bcfg2'))), null);
});

test('Path entries follow Bcfg2\'s XMLMatch order: unconditional first, then matching containers in place', () => {
  const plan = planClient(bundles, host('c1', ['g1', 'g2'], ['order']), []);
  assert.equal(names(plan), ['/a1', '/a6', '/a2', '/a3', '/a4', '/a5', '/a7', '/a9', '/a10']);
  assert.ok(plan.paths.every((p) => p.bundle === 'order'));
  assert.equal(plan.diagnostics, []);
});

test('negated conditionals select clients outside a group', () => {
  assert.equal(names(planClient(bundles, host('other', [], ['order']), [])), ['/a1', '/a6', '/not-g1']);
});

test('RequiredBundle pulls bundles in transitively, once; non-Path entries are skipped and reported', () => {
  const known = ['/etc/nginx/sites-enabled/default', '/etc/nginx/sites-enabled/api', '/etc/nginx/nginx.conf', '/etc/motd'];
  const plan = planClient(bundles, host('w1', [], ['web']), known);
  assert.equal(names(plan), ['/etc/nginx/nginx.conf', '/etc/nginx/sites-enabled/api', '/etc/nginx/sites-enabled/default', '/etc/motd', '/etc/resolv.conf']);
  assert.equal(plan.paths.find((p) => p.name === '/etc/resolv.conf')!.bundle, 'common');
  assert.equal(plan.skipped, [
    { bundle: 'web', tag: 'Package', name: 'nginx' },
    { bundle: 'web', tag: 'Service', name: 'nginx' },
    { bundle: 'web', tag: 'Action', name: 'reload-nginx' },
  ]);
  const missing = plan.diagnostics.filter((d) => d.code === 'missing-bundle');
  assert.is(missing.length, 1, 'the required but absent bundle is a warning');
  assert.match(missing[0]!.message, '"absent"');
});

test('a path in two bundles is kept once for the first bundle; a different altsrc is a warning', () => {
  const plan = planClient(bundles, host('w1', [], ['web']), []);
  const motd = plan.paths.filter((p) => p.name === '/etc/motd');
  assert.equal(motd, [{ name: '/etc/motd', altsrc: '/etc/motd.web', bundle: 'web' }]);
  const w = plan.diagnostics.find((d) => d.code === 'conflicting-altsrc');
  assert.ok(w);
  assert.match(w!.message, '"web"');
  assert.match(w!.message, '"common"');
  assert.is(w!.path, '/etc/motd');
});

test('a glob expands (fnmatch) against the known entry names; no match is a warning', () => {
  const plan = planClient(bundles, host('w1', [], ['web']), ['/etc/nginx/sites-enabled/a/b', '/etc/nginx/other']);
  assert.ok(names(plan).includes('/etc/nginx/sites-enabled/a/b'), 'fnmatch * crosses /');
  assert.not.ok(names(plan).includes('/etc/nginx/other'));
  const none = planClient(bundles, host('w1', [], ['web']), []);
  assert.ok(none.diagnostics.some((d) => d.code === 'glob-no-match' && d.file === 'Bundler/web.xml' && d.line === 6));
});

test('glob patterns follow Python fnmatch: ?, [seq], [!seq], literal dots and an unclosed [', async () => {
  await bundlerWith({ 'g.xml': '<Bundle><Path glob="/etc/[!x]?.conf"/><Path glob="/opt/[ab]*"/><Path glob="/lit/a[b"/></Bundle>' }, (repo) => {
    const known = ['/etc/ab.conf', '/etc/xb.conf', '/etc/abc.conf', '/etc/abXconf', '/opt/a1', '/opt/c1', '/lit/a[b'];
    const plan = planClient(loadBundles(repo)!, host('h', [], ['g']), known);
    assert.equal(names(plan), ['/etc/ab.conf', '/opt/a1', '/lit/a[b']);
  });
});

test('a bundle named by the metadata but without a file is a warning, not an error', () => {
  const plan = planClient(bundles, host('h', [], ['nosuch', 'order']), []);
  assert.ok(plan.paths.length > 0);
  const w = plan.diagnostics.find((d) => d.code === 'missing-bundle');
  assert.ok(w);
  assert.is(w!.host, 'h');
  assert.match(w!.message, 'Bundler/nosuch.xml');
});

test('Genshi bundles (namespace or .genshi) are skipped with a warning naming the file', () => {
  const plan = planClient(bundles, host('h', [], ['legacy', 'templated']), []);
  assert.equal(plan.paths, []);
  assert.equal(
    plan.diagnostics.map((d) => [d.code, d.file]),
    [
      ['unsupported-bundle-template', 'Bundler/legacy.genshi'],
      ['unsupported-bundle-template', 'Bundler/templated.xml'],
    ],
  );
});

test('a Path with a ".." component is an error naming the bundle file and line, even inside a conditional', () => {
  const e = throws(() => loadBundles(traversal));
  assert.is(e.code, 'REPO');
  assert.is(e.location.file, 'Bundler/bad.xml');
  assert.is(e.location.line, 4);
  assert.match(e.message, '".." component');
});

test('relative Path names, bad altsrc, nameless Paths and RequiredBundles are errors', async () => {
  const cases: [string, string][] = [
    ['<Bundle>\n<Path name="etc/motd"/></Bundle>', 'not an absolute path'],
    ['<Bundle>\n<Path name="/etc/motd" altsrc="/etc/../x"/></Bundle>', 'altsrc'],
    ['<Bundle>\n<Path/></Bundle>', 'without a name'],
    ['<Bundle>\n<RequiredBundle/></Bundle>', 'RequiredBundle'],
  ];
  for (const [xml, expected] of cases) {
    await bundlerWith({ 'b.xml': xml }, (repo) => {
      const e = throws(() => loadBundles(repo));
      assert.match(e.message, expected);
      assert.equal([e.location.file, e.location.line], ['Bundler/b.xml', 2]);
    });
  }
});

test('malformed bundle XML is an error naming the file; two files for one bundle name are an error', async () => {
  await bundlerWith({ 'b.xml': '<Bundle>\n<Path name="/x">\n</Bundle>' }, (repo) => {
    const e = throws(() => loadBundles(repo));
    assert.is(e.code, 'XML');
    assert.is(e.location.file, 'Bundler/b.xml');
  });
  await bundlerWith({ 'b.xml': '<Bundle/>', 'b.genshi': '<Bundle/>' }, (repo) => {
    assert.match(throws(() => loadBundles(repo)).message, 'two files for bundle "b"');
  });
});

test.run();
