import { resolve } from 'node:path';
import { BinderyError } from '../../errors.js';
import { caCertPath } from '../../ca/index.js';
import { DEFAULT_STATE_DIR, DEFAULT_TIMEOUT_MS, fetchAndApply } from '../../client/index.js';
import { boolOpt, stringOpt, type Command } from '../command.js';
import { readOptionFile } from './common.js';

const USAGE =
  'fetch --server https://host:port --ca ca.crt --trust signing-pub.pem --root <dir> [--cert client.crt --key client.key] [--user NAME|UUID|root] [--password P | --password-file F] [--host NAME] [--state DIR] [--allow-downgrade] [--max-age 7d] [--timeout 600] [--dry-run]';

const PASSWORD_ENV = 'BINDERY_PASSWORD';

const UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/** `--name` as a number with one of `units` (e.g. 7d), or undefined when absent. */
function scaled(value: string | undefined, name: string, units: Record<string, number>, example: string): number | undefined {
  if (value === undefined) return undefined;
  const m = /^([0-9]+)([a-z]?)$/i.exec(value);
  const unit = m ? units[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || Number(m[1]) === 0) throw new BinderyError('USAGE', `--${name} must be a positive whole number with an optional unit (${Object.keys(units).filter(Boolean).join(', ')}), e.g. ${example}; not "${value}"`);
  return Number(m[1]) * unit;
}

export const fetchCommand: Command = {
  name: 'fetch',
  summary: 'download this client\'s configuration, verify its signature, that it is this host\'s and not older than the last one applied, and apply it (or show the diff)',
  usage: USAGE,
  options: {
    server: { type: 'string', valueName: 'url', description: 'the bindery serve URL, https://host:port (required)' },
    cert: { type: 'string', valueName: 'file', description: 'client certificate (PEM), with --key' },
    key: { type: 'string', valueName: 'file', description: 'client private key (PEM), with --cert' },
    user: { type: 'string', short: 'u', valueName: 'name', description: 'user for password authentication: a client name, its UUID, or root', default: 'root when a password is given' },
    password: { type: 'string', valueName: 'p', description: 'password (visible in the process list: prefer --password-file)', default: '$BINDERY_PASSWORD' },
    'password-file': { type: 'string', valueName: 'file', description: 'read the password from this file' },
    host: { type: 'string', valueName: 'name', description: 'this host\'s name in clients.xml, which the signed record must name', default: 'the CN of --cert, else --user when it is a name' },
    ca: { type: 'string', valueName: 'file', description: 'CA certificate the server certificate must chain to (required)' },
    trust: { type: 'string', valueName: 'file', description: 'the build signing public key (PEM), or the first key of its rotation chain (required)' },
    root: { type: 'string', valueName: 'dir', description: 'where to apply the files; / on a real host (required)' },
    state: { type: 'string', valueName: 'dir', description: 'where the last applied build and the trusted key are remembered (against rollback; for 304s)', default: DEFAULT_STATE_DIR },
    'allow-downgrade': { type: 'boolean', description: 'apply a build older than the last one applied (a deliberate rollback)' },
    'max-age': { type: 'string', valueName: 'age', description: 'refuse a build made longer ago than this, e.g. 7d (s, m, h, d)' },
    timeout: { type: 'string', valueName: 'time', description: 'deadline for the whole run, e.g. 600 or 10m (s, m, h)', default: '10m' },
    'dry-run': { type: 'boolean', short: 'n', description: 'show what would change (a diff), change nothing' },
    'local-address': { type: 'string', valueName: 'ip', description: 'source address to connect from' },
  },
  async run(ctx) {
    const need = (name: string) => {
      const v = stringOpt(ctx, name);
      if (!v) throw new BinderyError('USAGE', `missing --${name}`, {}, `usage: bindery ${USAGE}`);
      return v;
    };
    const server = need('server');
    const certPath = stringOpt(ctx, 'cert');
    const keyPath = stringOpt(ctx, 'key');
    if (!!certPath !== !!keyPath) throw new BinderyError('USAGE', '--cert and --key go together', {}, `usage: bindery ${USAGE}`);
    const passwordFile = stringOpt(ctx, 'password-file');
    // The environment and a file keep the password out of the process list.
    const password = stringOpt(ctx, 'password') ?? (passwordFile ? readOptionFile(passwordFile, 'password file').replace(/\r?\n$/, '') : process.env[PASSWORD_ENV] || undefined);
    const user = stringOpt(ctx, 'user') ?? (password !== undefined ? 'root' : undefined);
    if (!certPath && user === undefined) {
      throw new BinderyError('USAGE', 'no credentials: give --cert/--key, or --user with --password (or --password-file, or ' + PASSWORD_ENV + ')', {}, `usage: bindery ${USAGE}`);
    }
    const dryRun = boolOpt(ctx, 'dry-run');
    const maxAge = scaled(stringOpt(ctx, 'max-age'), 'max-age', UNITS, '7d');
    const timeout = scaled(stringOpt(ctx, 'timeout'), 'timeout', UNITS, '10m');
    const result = await fetchAndApply({
      server,
      ca: readOptionFile(caCertPath(need('ca')), 'CA certificate'),
      trust: readOptionFile(need('trust'), 'trusted signing key'),
      cert: certPath ? readOptionFile(certPath, 'client certificate') : undefined,
      key: keyPath ? readOptionFile(keyPath, 'client key') : undefined,
      user,
      password,
      host: stringOpt(ctx, 'host'),
      root: resolve(need('root')),
      stateDir: resolve(stringOpt(ctx, 'state') ?? DEFAULT_STATE_DIR),
      allowDowngrade: boolOpt(ctx, 'allow-downgrade'),
      maxAgeMs: maxAge === undefined ? undefined : maxAge * 1000,
      timeoutMs: timeout === undefined ? DEFAULT_TIMEOUT_MS : timeout * 1000,
      dryRun,
      localAddress: stringOpt(ctx, 'local-address'),
    });
    const { io } = ctx;
    result.warnings.forEach((w) => io.warn(w));
    // With --json the diff is a field of the one document, never printed before it.
    if (dryRun && result.diff && !io.json) io.out(result.diff);
    const counts: Record<string, number> = {};
    for (const c of result.changes) {
      counts[c.action] = (counts[c.action] ?? 0) + 1;
      if (c.action !== 'unchanged') io.info(`${dryRun ? 'would ' : ''}${c.action} ${c.file.path} (${c.file.mode.toString(8).padStart(4, '0')} ${c.file.owner}:${c.file.group})`);
    }
    for (const f of result.failed) io.info(`failed: ${f.path}: ${f.reason}`);
    for (const p of result.serverFailed) io.info(`not bound by the server, left untouched: ${p}`);
    if (result.keyRotations) io.info(`signing key rotated ${result.keyRotations} time${result.keyRotations === 1 ? '' : 's'}: the new key is trusted from now on`);
    const summary = ['create', 'update', 'metadata', 'unchanged'].map((a) => `${counts[a] ?? 0} ${a}`).join(', ');
    const built = [result.serial !== null ? `serial ${result.serial}` : null, result.builtAt ? `built ${result.builtAt}` : null, result.revision ? `from ${result.revision}` : null].filter(Boolean).join(', ');
    const extra = `${result.failed.length ? `, ${result.failed.length} failed` : ''}${result.serverFailed.length ? `, ${result.serverFailed.length} not bound by the server` : ''}`;
    const what = result.status === 'unchanged' ? 'unchanged since the last run (server answered 304), nothing applied' : `${dryRun ? 'dry run, nothing changed' : 'applied'} (${summary}${extra})`;
    io.info(`${result.client}: ${what}; config ${result.sha256.slice(0, 12)}${built ? `, ${built}` : ''}`);
    io.result({
      ok: result.failed.length === 0,
      client: result.client,
      status: result.status,
      sha256: result.sha256,
      serial: result.serial,
      builtAt: result.builtAt,
      revision: result.revision,
      dryRun,
      changes: result.changes.map((c) => ({ path: c.file.path, action: c.action })),
      failed: result.failed,
      serverFailed: result.serverFailed,
      keyRotations: result.keyRotations,
      warnings: result.warnings,
      reportPosted: result.reportPosted,
      diff: result.diff,
    });
    // Paths the server could not bind are the build's failures, reported there; not this run's.
    return result.failed.length ? 1 : 0;
  },
};
