// Template render time per host: node --import tsx scripts/bench-templates.ts [repo] [--rounds N] [--json]
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadMetadata } from '../src/metadata/index.ts';
import { benchmarkTemplates } from '../src/templates/index.ts';

const { values, positionals } = parseArgs({ options: { rounds: { type: 'string' }, json: { type: 'boolean' } }, allowPositionals: true });
const repo = resolve(positionals[0] ?? 'test/fixtures/templates-twins');

function templates(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return templates(p);
    return /\.(genshi|cheetah|liquid)$/.test(f) ? [relative(repo, p).split('\\').join('/')] : [];
  });
}

const { clients } = loadMetadata(repo);
const timings = benchmarkTemplates(repo, templates(join(repo, 'Cfg')).sort(), clients, Number(values.rounds ?? 200));
if (values.json) process.stdout.write(JSON.stringify(timings, null, 2) + '\n');
else {
  process.stdout.write(`${clients.length} clients, ${repo}\n`);
  for (const t of timings) {
    process.stdout.write(`${t.file.padEnd(56)} ${t.kind.padEnd(8)} compile ${t.compileMs.toFixed(2).padStart(7)} ms   render ${t.renderMicrosPerHost.toFixed(1).padStart(7)} µs/host${t.failures ? `   (${t.failures} bind failures)` : ''}\n`);
  }
}
