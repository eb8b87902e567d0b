import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ROOT, run } from './helpers.ts';

/** A port nothing listens on right now, for the tutorial's server. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

test('the tutorial runs as written: build, inspect, a broken build that leaves the output, serve and fetch on 127.0.0.1', async () => {
  const r = await run('bash', [join(ROOT, 'scripts', 'tutorial.sh')], { env: { PORT: String(await freePort()) } });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, 'equally specific');
  assert.match(r.stdout, 'devbox.example.com: staging-web-server');
  assert.match(r.stderr, 'tutorial: every step worked');
});

test.run();
