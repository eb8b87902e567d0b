import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { compile, type CompileResult } from '../src/pipeline/index.ts';
import { ROOT } from './helpers.ts';

const sample = join(ROOT, 'sample-repo');
const base = { repo: sample, validate: false, generateKeys: false, env: {} } as const;

/** host → path → sha of content, owner, mode: everything a tarball is made of. */
function digest(r: CompileResult): Record<string, Record<string, string>> {
  return Object.fromEntries(r.hosts.map((h) => [h.host, Object.fromEntries(h.files.map((f) => [f.path, `${f.data.toString('base64')} ${f.info.owner}:${f.info.group} ${f.info.mode} ${f.source}`]))]));
}

test('binding in worker threads gives exactly what binding in one thread gives', async () => {
  const one = await compile({ ...base, jobs: 1 });
  let ticks = 0;
  const many = await compile({ ...base, jobs: 2, parallel: { probeMs: 0, thresholdMs: 0, minJobs: 2 }, onPhase: () => ({ tick: () => void ticks++, done() {} }) });
  assert.is(one.hosts.length, 10);
  assert.equal(one.binding, { workers: 0, inWorkers: 0 });
  assert.equal(many.binding, { workers: 2, inWorkers: 9 }, 'the first client is bound here, the other nine by two workers');
  assert.equal(digest(many), digest(one));
  assert.equal(many.hosts.map((h) => h.host), one.hosts.map((h) => h.host), 'client order is kept');
  assert.is(ticks, 10, 'progress counts every client, whichever thread bound it');
  assert.equal(many.hosts.flatMap((h) => h.failures), []);
});

test.run();
