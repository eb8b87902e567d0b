import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { compile, plan, type CompileResult } from '../src/pipeline/index.ts';
import { bindContext } from '../src/pipeline/bind-all.ts';
import { bindEntry } from '../src/cfg/index.ts';
import { bindInput } from '../src/pipeline/stages.ts';
import { spawnSync } from 'node:child_process';
import { ROOT, tempDir } from './helpers.ts';

const sample = join(ROOT, 'sample-repo');
const base = { repo: sample, validate: false, generateKeys: false, env: {} } as const;
const work = tempDir('bindery-parallel-');
test.after(() => work.cleanup());

/** The benchmark's synthetic repository: enough clients (300) for two threads. */
function syntheticRepo(): string {
  const dir = join(work.dir, 'synthetic');
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/bench.ts'), '--clients', '300', '--entries', '30', '--write-repo', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/bench.ts --write-repo failed: ${r.stderr}`);
  return dir;
}

/** host → path → content, owner, mode, source: everything a tarball is made of. */
function digest(r: CompileResult): Record<string, Record<string, string>> {
  return Object.fromEntries(r.hosts.map((h) => [h.host, Object.fromEntries(h.files.map((f) => [f.path, `${f.data.toString('base64')} ${f.info.owner}:${f.info.group} ${f.info.mode} ${f.source} ${f.deltas.join(',')}`]))]));
}

test('binding in worker threads gives exactly what binding in one thread gives, templates and .crypt included', async () => {
  const repo = { ...base, repo: syntheticRepo() };
  const one = await compile({ ...repo, jobs: 1 });
  let ticks = 0;
  const many = await compile({ ...repo, jobs: 2, onPhase: () => ({ tick: () => void ticks++, done() {} }) });
  assert.is(one.hosts.length, 300);
  assert.equal(one.binding, { threads: 1, bound: 300, reused: 0 });
  assert.equal(many.binding, { threads: 2, bound: 300, reused: 0 });
  assert.equal(digest(many), digest(one));
  assert.equal(many.hosts.map((h) => h.host), one.hosts.map((h) => h.host), 'client order is kept');
  assert.is(ticks, 300, 'progress counts every client, whichever thread bound it');
  assert.equal(many.hosts.flatMap((h) => h.failures), []);
});

test('results shared by clients of one group set are what binding each client alone gives', async () => {
  const r = await compile({ ...base, jobs: 1 });
  const ctx = bindContext(bindInput({ config: r.config, repo: r.repo, metadata: r.metadata, warnings: [] }, new Map(), {}, false));
  let compared = 0;
  for (const h of r.hosts) {
    const m = r.metadata.clients.find((c) => c.hostname === h.host)!;
    const entries = plan({ config: r.config, repo: r.repo, metadata: r.metadata, warnings: [] }, [m]).plans.get(h.host)!;
    for (const f of h.files) {
      const entry = entries.find((e) => e.name === f.path)!;
      // A fresh context per entry: nothing cached from another client.
      const alone = bindEntry({ ...ctx, caches: { templates: new Map(), infoXml: new Map(), content: new Map() } }, entry, m);
      assert.ok(alone.ok, `${h.host} ${f.path}`);
      if (alone.ok) assert.equal([alone.file.data.toString('base64'), alone.file.info, alone.file.source, alone.file.deltas], [f.data.toString('base64'), f.info, f.source, f.deltas], `${h.host} ${f.path}`);
      compared++;
    }
  }
  assert.ok(compared > 50, `compared ${compared} files`);
});

test.run();
