#!/usr/bin/env node
// Runs the uvu suites (TypeScript through tsx) and ends with the one summary line CI reads:
// "N passed, N failed". uvu's own totals are parsed from its output; a crash counts as a failure.
import { spawn, spawnSync } from 'node:child_process';

// The tools the suites run, checked once here so a missing one is one clear line naming its
// Debian package rather than a failure in every test that calls it. .ci/run installs them.
const TOOLS = { openssl: 'openssl', tar: 'tar', 'ssh-keygen': 'openssh-client', curl: 'curl', patch: 'patch', git: 'git', visudo: 'sudo', sshd: 'openssh-server' };
const missing = Object.entries(TOOLS).filter(([tool]) => spawnSync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`]).status !== 0);
for (const [tool, pkg] of missing) process.stdout.write(`missing tool: ${tool} (apt-get install ${pkg})\n`);

const pattern = process.argv[2] ?? '\\.test\\.ts$';
const child = spawn(process.execPath, ['--import', 'tsx', 'node_modules/uvu/bin.js', 'test', pattern, '--no-color'], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
});
let out = '';
child.stdout.on('data', (d) => {
  out += d;
  process.stdout.write(d);
});
child.on('close', (code) => {
  const num = (label) => Number((new RegExp(`${label}:\\s+(\\d+)`).exec(out) ?? [])[1] ?? NaN);
  const total = num('Total');
  const passed = num('Passed');
  const skipped = num('Skipped');
  let failed = missing.length + (Number.isFinite(total) && Number.isFinite(passed) ? total - passed - (Number.isFinite(skipped) ? skipped : 0) : 1);
  const ok = code === 0 && failed === 0 && Number.isFinite(passed) && passed > 0;
  if (!ok && failed === 0) failed = 1;
  process.stdout.write(`\n${Number.isFinite(passed) ? passed : 0} passed, ${failed} failed${Number.isFinite(skipped) && skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exitCode = ok ? 0 : 1;
});
