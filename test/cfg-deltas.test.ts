import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyCat, applyDiff, selectDeltas, selectBest } from '../src/cfg/index.ts';
import { classifyFile } from '../src/repo/classify.ts';
import { BinderyError } from '../src/errors.ts';
import type { CfgFile } from '../src/types.ts';

/** A CfgFile for a name in the motd entry set, with some content. */
function cfg(name: string, data = ''): CfgFile {
  const c = classifyFile('motd', name);
  if (c === null || c === 'ignored') throw new Error(`not a Cfg file: ${name}`);
  return { ...c, file: { rel: `Cfg/etc/motd/${name}`, abs: `/repo/Cfg/etc/motd/${name}`, data: Buffer.from(data), mode: 0o644 } };
}

test('cat strips the base, appends + lines, removes the first equal - line', () => {
  assert.is(applyCat('  a\nb\nb\n\n', '+c\n-b\n\nx\n-z\n'), 'a\nb\nc\n');
});

test('cat always ends with exactly one newline', () => {
  assert.is(applyCat('a', ''), 'a\n');
  assert.is(applyCat('', '+x'), 'x\n');
});

test('the delta example of Bcfg2\'s docs with the eligibility of decision 3 (docs/decisions.md)', () => {
  const files = ['motd', 'motd.G01_web', 'motd.H_bar'].map((n) => cfg(n));
  const deltas = ['motd.G01_mail.cat', 'motd.G02_file.cat', 'motd.H_foo.cat'].map((n) => cfg(n));
  const foo = { hostname: 'foo', groups: ['web', 'mail', 'file'] };
  const base = selectBest(files, foo, 'generator', '/etc/motd')!.chosen;
  assert.is(base.file.rel, 'Cfg/etc/motd/motd.G01_web');
  // Only the most specific eligible level applies: foo's host delta.
  assert.equal(selectDeltas(deltas, base, foo).map((d) => d.file.rel), ['Cfg/etc/motd/motd.H_foo.cat']);
  const bar = { hostname: 'bar', groups: [] };
  assert.is(selectBest(files, bar, 'generator', '/etc/motd')!.chosen.file.rel, 'Cfg/etc/motd/motd.H_bar');
  assert.equal(selectDeltas(deltas, cfg('motd.H_bar'), bar), []);
  const nobody = { hostname: 'x', groups: [] };
  assert.is(selectBest(files, nobody, 'generator', '/etc/motd')!.chosen.file.rel, 'Cfg/etc/motd/motd');
});

test('group deltas apply in increasing priority, ties by file name', () => {
  const deltas = ['motd.G20_b.cat', 'motd.G05_z.cat', 'motd.G20_a.cat', 'motd.cat'].map((n) => cfg(n));
  const m = { hostname: 'h', groups: ['a', 'b', 'z'] };
  assert.equal(selectDeltas(deltas, cfg('motd'), m).map((d) => d.file.rel.split('/').pop()), ['motd.G05_z.cat', 'motd.G20_a.cat', 'motd.G20_b.cat']);
  // A group base excludes deltas less specific than itself.
  assert.equal(selectDeltas(deltas, cfg('motd.G10_a'), m).map((d) => d.file.rel.split('/').pop()), ['motd.G20_a.cat', 'motd.G20_b.cat']);
});

test('two equally specific generators are an error naming both files (decision 2 (docs/decisions.md))', () => {
  const m = { hostname: 'h', groups: ['a', 'b'] };
  try {
    selectBest([cfg('motd.G50_a'), cfg('motd.G50_b')], m, 'generator', '/etc/motd');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, BinderyError);
    assert.match((e as Error).message, 'motd.G50_a');
    assert.match((e as Error).message, 'motd.G50_b');
    assert.is((e as BinderyError).location.host, 'h');
  }
  assert.throws(() => selectBest([cfg('motd.H_h'), cfg('motd.H_h.genshi')], m, 'generator', '/etc/motd'), /equally specific/);
});

test('at equal specificity .liquid beats .genshi beats .cheetah, and each loser is reported', () => {
  const m = { hostname: 'h', groups: [] };
  const sel = selectBest([cfg('motd.cheetah'), cfg('motd.genshi'), cfg('motd.liquid')], m, 'generator', '/etc/motd')!;
  assert.is(sel.chosen.kind, 'liquid');
  assert.equal(sel.shadowed.map((f) => f.kind), ['genshi', 'cheetah']);
  assert.is(selectBest([cfg('motd.cheetah'), cfg('motd.genshi')], m, 'generator', '/etc/motd')!.chosen.kind, 'genshi');
});

test('a unified diff is applied with the real patch program', () => {
  const base = Buffer.from('one\ntwo\nthree\n');
  const diff = Buffer.from('--- a\n+++ b\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n');
  assert.is(applyDiff(base, diff, 'Cfg/x/x.diff').toString(), 'one\nTWO\nthree\n');
  assert.throws(() => applyDiff(Buffer.from('other\n'), diff, 'Cfg/x/x.diff'), /does not apply/);
});

test.run();
