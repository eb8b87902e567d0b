#!/usr/bin/env node
// Runs the uvu suites and ends with the one summary line CI reads: "N passed, N failed".
// Each suite (test/*.test.ts, or those matching the regex argument) runs in its own process
// (TypeScript through tsx), several at once: most suites wait on child processes, servers and
// the disk, not the CPU. TEST_JOBS sets how many (default 4). A suite's output is printed whole
// when it ends, in file order; a suite that crashes counts as a failure.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';

const pattern = new RegExp(process.argv[2] ?? '\\.test\\.ts$');
const files = readdirSync('test').filter((f) => f.endsWith('.test.ts') && pattern.test(f)).sort();
const jobs = Math.max(1, Number(process.env.TEST_JOBS) || 4);
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function runSuite(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', 'node_modules/uvu/bin.js', 'test', `^${escape(file)}$`, '--no-color'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => {
      const num = (label) => Number((new RegExp(`${label}:\\s+(\\d+)`).exec(out) ?? [])[1] ?? NaN);
      const total = num('Total');
      const passed = num('Passed');
      const skipped = Number.isFinite(num('Skipped')) ? num('Skipped') : 0;
      let failed = Number.isFinite(total) && Number.isFinite(passed) ? total - passed - skipped : 1;
      if ((code !== 0 || !Number.isFinite(passed)) && failed === 0) failed = 1;
      resolve({ file, out, passed: Number.isFinite(passed) ? passed : 0, failed, skipped, seconds: (Date.now() - started) / 1000 });
    });
  });
}

const results = new Array(files.length);
const waiters = files.map(() => {
  let done;
  const p = new Promise((r) => (done = r));
  return { p, done };
});
let next = 0;
async function worker() {
  while (next < files.length) {
    const i = next++;
    results[i] = await runSuite(files[i]);
    waiters[i].done();
  }
}
const pool = Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));
for (let i = 0; i < files.length; i++) {
  await waiters[i].p;
  const r = results[i];
  process.stdout.write(`${r.out.replace(/\n*\s*Total:[\s\S]*$/, '')}\n  (${r.seconds.toFixed(1)} s)\n`);
}
await pool;
const sum = (k) => results.reduce((n, r) => n + r[k], 0);
const failed = sum('failed') + (files.length === 0 ? 1 : 0);
const skipped = sum('skipped');
process.stdout.write(`\n${sum('passed')} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exitCode = failed === 0 ? 0 : 1;
