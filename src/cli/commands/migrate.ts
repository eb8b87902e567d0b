import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { findUp, writeOutputFile } from './common.js';
import { BinderyError } from '../../errors.js';
import { boolOpt, type Command } from '../command.js';

/** `bindery migrate <file>`: Genshi/Cheetah → an equivalent .liquid file beside it. */
export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'convert a Genshi or Cheetah template into an equivalent .liquid file beside it (checked on every client)',
  usage: 'migrate <file.genshi|file.cheetah> [--force]',
  options: {
    force: { type: 'boolean', short: 'f', description: 'overwrite an existing .liquid file' },
  },
  async run(ctx) {
    // Loaded when the command runs, so help, --version and other commands start fast.
    const { loadMetadata } = await import('../../metadata/index.js');
    const { migrateTemplate } = await import('../../templates/index.js');
    const [file, ...extra] = ctx.positionals;
    if (!file || extra.length > 0) throw new BinderyError('USAGE', 'expected: migrate <file>', {}, 'run bindery migrate --help');
    const abs = resolve(file);
    const kind = /\.genshi$/.test(abs) ? 'genshi' : /\.cheetah$/.test(abs) ? 'cheetah' : null;
    if (!kind) {
      const hint = /\.crypt/.test(abs) ? 'decrypt it first with bindery crypt decrypt, migrate, then encrypt the .liquid file' : 'migrate converts Genshi (.genshi) and Cheetah (.cheetah) templates';
      throw new BinderyError('USAGE', `${file} is not a Genshi or Cheetah template`, { file }, hint);
    }
    let source: string;
    try {
      source = readFileSync(abs, 'utf8');
    } catch (e) {
      throw new BinderyError('USAGE', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file });
    }
    const repoRoot = findUp(dirname(abs), 'Cfg');
    if (!repoRoot) throw new BinderyError('USAGE', `${file} is not inside a repository (no parent directory has a Cfg/ folder)`, { file });
    const rel = relative(repoRoot, abs).split(sep).join('/');
    const { clients } = loadMetadata(repoRoot);
    const migration = migrateTemplate(kind, source, rel, { repoRoot, clients });
    const dest = join(repoRoot, migration.file);
    if (existsSync(dest) && !boolOpt(ctx, 'force')) {
      throw new BinderyError('USAGE', `${migration.file} already exists`, { file: migration.file }, 'add --force to overwrite it');
    }
    writeOutputFile(dest, migration.liquid, statSync(abs).mode & 0o777, 'REPO');
    ctx.io.info(`wrote ${migration.file}: renders the same as ${rel} for all ${migration.clients} clients`);
    if (migration.failing.length) {
      ctx.io.info(`note: ${migration.failing.length} of them fail to bind with both templates (${migration.failing.slice(0, 3).join(', ')}${migration.failing.length > 3 ? ', …' : ''}), so their output was not compared`);
    }
    ctx.io.info(`${basename(rel)} is now shadowed by ${basename(migration.file)} (a warning at build time); remove it once you are happy`);
    ctx.io.result({ ok: true, source: rel, written: migration.file, clients: migration.clients, failing: migration.failing });
    return 0;
  },
};


