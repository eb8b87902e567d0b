import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run, tempDir } from './helpers.ts';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

test('the npm package is not called "bindery" (an unrelated package owns that name) but installs the bindery command', () => {
  assert.is.not(pkg.name, 'bindery');
  assert.equal(Object.keys(pkg.bin), ['bindery']);
});

test('npm pack gives a package with the compiled CLI and without tests, sources or build outputs, and it runs', async () => {
  const t = tempDir();
  try {
    // make test compiled dist/ already; --ignore-scripts keeps pack from compiling it again.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', t.dir]);
    assert.is(packed.code, 0, packed.stderr);
    const [info] = JSON.parse(packed.stdout);
    const paths: string[] = info.files.map((f: { path: string }) => f.path);
    assert.ok(paths.includes('bin/bindery.js'));
    assert.ok(paths.includes('dist/cli/main.js'), 'dist/ is in the package');
    for (const p of paths) assert.not.match(p, /^(test|src|out|sample-repo|node_modules)\//, `${p} does not belong in the package`);

    const untar = await run('tar', ['-xzf', join(t.dir, info.filename), '-C', t.dir]);
    assert.is(untar.code, 0, untar.stderr);
    // Dependencies as npm would install them; the checkout's serve the same purpose offline.
    symlinkSync(join(ROOT, 'node_modules'), join(t.dir, 'package', 'node_modules'));
    const help = await run(process.execPath, [join(t.dir, 'package', 'bin', 'bindery.js'), 'build', '--help'], { cwd: t.dir });
    assert.is(help.code, 0, help.stderr);
    assert.match(help.stdout + help.stderr, /build <repo>/);
  } finally {
    t.cleanup();
  }
});

test('the systemd units name the programs they start and pass systemd-analyze verify', async () => {
  const units = join(ROOT, 'contrib', 'systemd');
  const names = readdirSync(units).sort();
  assert.equal(names, ['bindery-fetch.service', 'bindery-fetch.timer', 'bindery-serve.service']);
  const analyze = await run('sh', ['-c', 'command -v systemd-analyze']);
  assert.is(analyze.code, 0, 'systemd-analyze is missing: apt-get install systemd');
  const t = tempDir();
  try {
    // verify checks that ExecStart's program exists: point it at a real executable here.
    for (const n of names) {
      const text = readFileSync(join(units, n), 'utf8').replace(/^ExecStart=\S+/m, 'ExecStart=/bin/true');
      writeFileSync(join(t.dir, n), text.replace(/^EnvironmentFile=.*$/m, '').replace(/^User=.*$|^Group=.*$/gm, ''));
    }
    const r = await run('systemd-analyze', ['verify', '--man=no', ...names.map((n) => join(t.dir, n))], { cwd: t.dir });
    assert.is(r.code, 0, r.stderr);
    assert.not.match(r.stderr, /Unknown (key|section)|Invalid|Failed to parse/, r.stderr);
  } finally {
    t.cleanup();
  }
});

test.run();
