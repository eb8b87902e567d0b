import { resolve } from 'node:path';
import { BinderyError } from '../../errors.js';
import { caCertPath } from '../../ca/index.js';
import { fetchAndApply } from '../../client/index.js';
import { boolOpt, stringOpt, type Command } from '../command.js';
import { readOptionFile } from './common.js';

const USAGE =
  'fetch --server https://host:port --ca ca.crt --trust signing-pub.pem --root <dir> [--cert client.crt --key client.key] [--user NAME|UUID|root] [--password P | --password-file F] [--host NAME] [--dry-run]';

const PASSWORD_ENV = 'BINDERY_PASSWORD';


export const fetchCommand: Command = {
  name: 'fetch',
  summary: 'download this client\'s configuration, verify its signature and that it is this host\'s, and apply it (or show the diff)',
  usage: USAGE,
  options: {
    server: { type: 'string', valueName: 'url', description: 'the bindery serve URL, https://host:port (required)' },
    cert: { type: 'string', valueName: 'file', description: 'client certificate (PEM), with --key' },
    key: { type: 'string', valueName: 'file', description: 'client private key (PEM), with --cert' },
    user: { type: 'string', short: 'u', valueName: 'name', description: 'user for password authentication: a client name, its UUID, or root', default: 'root when a password is given' },
    password: { type: 'string', valueName: 'p', description: 'password (visible in the process list: prefer --password-file)', default: '$BINDERY_PASSWORD' },
    'password-file': { type: 'string', valueName: 'file', description: 'read the password from this file' },
    host: { type: 'string', valueName: 'name', description: 'the client name to ask for', default: 'the one the server finds for this certificate or address' },
    ca: { type: 'string', valueName: 'file', description: 'CA certificate the server certificate must chain to (required)' },
    trust: { type: 'string', valueName: 'file', description: 'the build signing public key (PEM) tarballs must verify against (required)' },
    root: { type: 'string', valueName: 'dir', description: 'where to apply the files; / on a real host (required)' },
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
      dryRun,
      localAddress: stringOpt(ctx, 'local-address'),
    });
    const { io } = ctx;
    if (dryRun && result.diff) io.out(result.diff);
    const counts: Record<string, number> = {};
    for (const c of result.changes) {
      counts[c.action] = (counts[c.action] ?? 0) + 1;
      if (c.action !== 'unchanged') io.info(`${dryRun ? 'would ' : ''}${c.action} ${c.file.path} (${c.file.mode.toString(8).padStart(4, '0')} ${c.file.owner}:${c.file.group})`);
    }
    for (const f of result.failed) io.info(`failed: ${f.path}: ${f.reason}`);
    const summary = ['create', 'update', 'metadata', 'unchanged'].map((a) => `${counts[a] ?? 0} ${a}`).join(', ');
    const built = `built ${result.builtAt}${result.revision ? ` from ${result.revision}` : ''}`;
    io.info(`${result.client}: ${dryRun ? 'dry run, nothing changed' : 'applied'} (${summary}${result.failed.length ? `, ${result.failed.length} failed` : ''}); config ${result.sha256.slice(0, 12)}, ${built}`);
    io.result({
      ok: result.failed.length === 0,
      client: result.client,
      sha256: result.sha256,
      builtAt: result.builtAt,
      revision: result.revision,
      dryRun,
      changes: result.changes.map((c) => ({ path: c.file.path, action: c.action })),
      failed: result.failed,
      reportPosted: result.reportPosted,
      diff: result.diff,
    });
    return result.failed.length ? 1 : 0;
  },
};
