#!/usr/bin/env node
// `make client`: dist/bindery-fetch.mjs (or the path given), the CLI with `fetch` as its only command and every
// dependency inside, for hosts that have Node 20 but not the compiler, its dev dependencies or
// even node_modules. It is the same CLI entry (src/cli/main.ts) with the command list swapped
// for one holding fetch alone, so the bundle parses options and reports errors as bindery does.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const commandsDir = join(root, 'src', 'cli', 'commands');

/** main.ts's `./commands/index.js` becomes a list holding fetch alone. */
const fetchOnly = {
  name: 'fetch-only',
  setup(b) {
    b.onResolve({ filter: /^\.\/commands\/index\.js$/ }, (args) => (args.importer === mainTs ? { path: 'fetch-only', namespace: 'fetch-only' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'fetch-only' }, () => ({
      contents: "import { fetchCommand } from './fetch.ts';\nexport const commands = [fetchCommand];\n",
      resolveDir: commandsDir,
      loader: 'ts',
    }));
  },
};

// An output path may be given (the tests bundle into a temporary directory).
const mainTs = join(root, 'src', 'cli', 'main.ts');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
/** main.ts reads its version from package.json beside dist/; the bundle travels alone, so it carries the version itself. */
const versionRead = /JSON\.parse\(readFileSync\(new URL\('\.\.\/\.\.\/package\.json', import\.meta\.url\), 'utf8'\)\)/;
const ownVersion = {
  name: 'own-version',
  setup(b) {
    b.onLoad({ filter: /src[\\/]cli[\\/]main\.ts$/ }, () => {
      const text = readFileSync(mainTs, 'utf8');
      if (!versionRead.test(text)) throw new Error('src/cli/main.ts no longer reads package.json as scripts/bundle-client.mjs expects: update the script');
      return { contents: text.replace(versionRead, JSON.stringify({ version })), loader: 'ts' };
    });
  },
};

const out = process.argv[2] ?? join(root, 'dist', 'bindery-fetch.mjs');
const result = await build({
  entryPoints: [join(root, 'src', 'cli', 'main.ts')],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'none',
  metafile: true,
  // CommonJS dependencies call require() for Node's modules; an ES module has none of its own.
  // main.ts brings its own #! line, which esbuild keeps first.
  banner: { js: "import { createRequire as __bindery_createRequire } from 'node:module';\nconst require = __bindery_createRequire(import.meta.url);" },
  plugins: [fetchOnly, ownVersion],
  logLevel: 'warning',
});
const bytes = result.metafile.outputs[Object.keys(result.metafile.outputs)[0]].bytes;
process.stdout.write(`wrote ${out} (${Math.round(bytes / 1024)} KiB)\n`);
