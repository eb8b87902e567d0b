import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { ROOT } from './helpers.ts';

/** Every file under dir whose name ends in ext. */
function walk(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name), ext) : e.name.endsWith(ext) ? [join(dir, e.name)] : [],
  );
}

const pages = [join(ROOT, 'README.md'), ...walk(join(ROOT, 'docs'), '.md')];

test('every relative link in the README and docs/ leads to a file that exists', () => {
  const broken: string[] = [];
  for (const page of pages) {
    const text = readFileSync(page, 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!) || target!.startsWith('#')) continue;
      const file = target!.split('#')[0]!;
      if (!existsSync(join(dirname(page), file))) broken.push(`${relative(ROOT, page)} → ${target}`);
    }
  }
  assert.equal(broken, []);
});

test('the README stays a first page: under 300 lines', () => {
  assert.ok(readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length < 300);
});

test('no code or doc cites a document that is not in the repository', () => {
  const files = [...pages, ...walk(join(ROOT, 'src'), '.ts')];
  const citing = files.filter((f) => /spec §|DECISIONS #|bcfg2-semantics/.test(readFileSync(f, 'utf8')));
  assert.equal(citing.map((f) => relative(ROOT, f)), []);
});

test.run();
