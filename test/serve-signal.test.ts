import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { bindery, copyFixture, ROOT, tempDir } from './helpers.ts';

test('bindery serve stops cleanly on SIGTERM and exits 0 (for systemd)', async () => {
  const tmp = tempDir('bindery-serve-signal-');
  const repo = copyFixture('server-repo');
  try {
    const at = (...p: string[]) => join(tmp.dir, ...p);
    for (const args of [['ca', 'init', at('ca')], ['ca', 'issue', at('ca'), 'server.test', '--server']]) assert.is((await bindery(args)).code, 0);
    const args = ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve', '--build', at('out'), '--repo', repo.dir, '--tls-cert', at('ca/issued/server.test.crt'), '--tls-key', at('ca/issued/server.test.key'), '--ca', at('ca'), '--listen', '127.0.0.1:0', '--state', at('state')];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    const code = await new Promise<number | null>((resolve) => {
      let err = '';
      child.stderr!.on('data', (d: Buffer) => {
        err += d;
        if (/listening on https:/.test(err)) child.kill('SIGTERM');
      });
      child.on('exit', (c) => resolve(c));
    });
    assert.is(code, 0);
  } finally {
    repo.cleanup();
    tmp.cleanup();
  }
});

test.run();
