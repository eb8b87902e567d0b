import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { BinderyError, isBinderyError, type Diagnostic } from '../../errors.js';
import { renderMessage } from '../render.js';
import type { AuthPolicy, ServedBuild } from '../../server/index.js';
import type { ClientAuth } from '../../types.js';
import { listOpt, stringOpt, type Command, type CommandContext } from '../command.js';
import { intOption, readOptionFile } from './common.js';
import { isStoreUrl, mirrorStore, openStore, parseStoreUrl, type StoreMirror } from '../../publish/index.js';

const USAGE =
  'serve --build <dir>|s3://bucket/prefix|file:///dir --repo <repo> --tls-cert server.crt --tls-key server.key --ca ca.crt [--listen host:port] [--state <dir>] [--config bcfg2.conf] [--log file] [--max-failures N] [--failure-window S] [--resolver host[:port]]... [--crl ca.crl] [--workers N] [--trust-key pub.pem] [--poll S] [--endpoint URL] [--path-style]';

const DEFAULT_LISTEN = '0.0.0.0:6789';

/** host:port, [v6]:port or :port. */
function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new BinderyError('USAGE', `--listen ${text} is not host:port`, {}, 'for example --listen 0.0.0.0:6789 or --listen [::]:6789');
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve each authenticated client its own signed tarball over HTTPS',
  usage: USAGE,
  handlesSignals: true,
  options: {
    build: { type: 'string', valueName: 'dir', description: 'the output directory of bindery build, or a store it was published to (s3://bucket/prefix, file:///dir) (required)' },
    repo: { type: 'string', valueName: 'dir', description: 'the repository the build was made from; its clients.xml says who may fetch (required)' },
    'tls-cert': { type: 'string', valueName: 'file', description: 'server certificate (PEM)', default: '[communication] certificate' },
    'tls-key': { type: 'string', valueName: 'file', description: 'server private key (PEM)', default: '[communication] key' },
    ca: { type: 'string', valueName: 'file', description: 'CA certificate that client certificates must chain to', default: '[communication] ca' },
    listen: { type: 'string', valueName: 'host:port', description: 'address to listen on', default: DEFAULT_LISTEN },
    state: { type: 'string', valueName: 'dir', description: 'bootstrap records and client run reports', default: '<build>.state beside --build' },
    config: { type: 'string', short: 'C', valueName: 'file', description: 'bcfg2.conf to read', default: '<repo>/bcfg2.conf when present' },
    log: { type: 'string', valueName: 'file', description: 'append one JSON line per authentication decision here', default: 'stderr' },
    'max-failures': { type: 'string', valueName: 'n', description: 'failed authentications per address before it is refused for a while', default: '20' },
    'failure-window': { type: 'string', valueName: 'seconds', description: 'the window --max-failures counts in', default: '60' },
    resolver: { type: 'string', multiple: true, valueName: 'ip[:port]', description: 'DNS server for the reverse lookup of clients without a listed address (repeatable)', default: 'the system resolver' },
    crl: { type: 'string', valueName: 'file', description: 'certificate revocation list, reloaded when it changes', default: 'ca.crl beside the CA certificate' },
    workers: { type: 'string', valueName: 'n', description: 'server processes sharing the port, bootstrap state and rate limits', default: '1' },
    'trust-key': { type: 'string', valueName: 'file', description: 'with --build from a store: the public key (PEM) every manifest must be signed by', default: 'the key of the first build fetched, pinned in --state' },
    poll: { type: 'string', valueName: 'seconds', description: 'with --build from a store: how often the store\'s current pointer is checked', default: '5' },
    endpoint: { type: 'string', valueName: 'url', description: 'an S3-compatible endpoint, e.g. http://127.0.0.1:7480', default: 'AWS, or $AWS_ENDPOINT_URL' },
    'path-style': { type: 'boolean', description: 'path-style S3 addressing (the default with --endpoint)' },
  },
  async run(ctx) {
    // Loaded when the command runs, so help, --version and other commands start fast.
    const { CA_CRL, caCertPath } = await import('../../ca/index.js');
    const { load } = await import('../../pipeline/index.js');
    const { loadMetadata } = await import('../../metadata/index.js');
    const { announceListening, clientHazards, isWorker, leavePool, openLineSink, startServer, workerLimiter } = await import('../../server/index.js');
    const need = (name: string) => {
      const v = stringOpt(ctx, name);
      if (!v) throw new BinderyError('USAGE', `missing --${name}`, {}, `usage: bindery ${USAGE}`);
      return resolve(v);
    };
    const buildArg = stringOpt(ctx, 'build');
    const fromStore = buildArg !== undefined && isStoreUrl(buildArg);
    if (fromStore && !stringOpt(ctx, 'state')) throw new BinderyError('USAGE', '--build from a store needs --state <dir> (the local copy of the build is kept there)', {}, `usage: bindery ${USAGE}`);
    const buildDir = fromStore ? resolve(stringOpt(ctx, 'state')!, 'store-cache') : need('build');
    const repo = need('repo');
    // The same load as build's: the same checks, and the clients as the build saw them.
    const loaded = await load({ repo, configPath: stringOpt(ctx, 'config') });
    const { config } = loaded;
    const tlsFile = (flag: string, fromConfig: string | null, what: string) => {
      const v = stringOpt(ctx, flag) ?? fromConfig;
      if (!v) throw new BinderyError('USAGE', `missing --${flag} (or [communication] ${what} in bcfg2.conf)`, {}, `usage: bindery ${USAGE}`);
      return resolve(v);
    };
    const files = { cert: tlsFile('tls-cert', config.communication.certificate, 'certificate'), key: tlsFile('tls-key', config.communication.key, 'key'), ca: caCertPath(tlsFile('ca', config.communication.ca, 'ca')) };
    const hint = 'make one with bindery ca init / bindery ca issue --server';
    const tls = {
      cert: readOptionFile(files.cert, 'server certificate', 'CONFIG', hint),
      key: readOptionFile(files.key, 'server key', 'CONFIG', hint),
      ca: readOptionFile(files.ca, 'CA certificate', 'CONFIG', hint),
      // bindery ca revoke writes ca.crl next to ca.crt; watched, so it may appear later.
      crlFile: resolve(stringOpt(ctx, 'crl') ?? join(dirname(files.ca), CA_CRL)),
      files,
    };
    const { host, port } = parseListen(stringOpt(ctx, 'listen') ?? DEFAULT_LISTEN);
    const stateDir = resolve(stringOpt(ctx, 'state') ?? join(dirname(buildDir), `${basename(buildDir)}.state`));
    const rateLimit = { maxFailures: intOption(ctx, 'max-failures', 20), windowMs: intOption(ctx, 'failure-window', 60) * 1000 };
    const workers = intOption(ctx, 'workers', 1);
    if (workers < 1 || workers > 64) throw new BinderyError('USAGE', `--workers ${workers} is not from 1 to 64`, {}, 'one process per core is usually right');
    // Each worker would mirror the store into the one cache on its own.
    if (fromStore && workers > 1) throw new BinderyError('USAGE', '--workers with --build from a store is not supported yet', {}, 'serve from a store with one process, or mirror it into a directory and serve that with --workers');
    const resolver = { servers: listOpt(ctx, 'resolver') };
    const policy: AuthPolicy = { globalPassword: config.communication.password, defaultAuth: config.communication.authentication };

    const hazards = clientHazards(loaded.metadata.auth, policy.defaultAuth);
    if (workers > 1 && !isWorker()) return runPool(ctx, workers, rateLimit, { buildDir, stateDir }, hazards);
    const sink = openLineSink(stringOpt(ctx, 'log') ?? null);
    const log = (line: string) => sink.write(line);

    // clients.xml is read again whenever a new build is published (or on SIGHUP); if it cannot
    // be read, the previous inventory stays in force.
    let inventory: { key: string | null; clients: readonly ClientAuth[] } = { key: null, clients: loaded.metadata.auth };
    const reload = (key: string | null) => {
      try {
        inventory = { key, clients: loadMetadata(repo).auth };
      } catch (e) {
        inventory = { ...inventory, key };
        log(JSON.stringify({ time: new Date().toISOString(), result: 'error', reason: `clients.xml not reloaded: ${isBinderyError(e) ? renderMessage(e.toMessage()) : String(e)}` }));
      }
    };
    const clients = (build: ServedBuild | null) => {
      const key = build?.dir ?? null;
      if (inventory.key !== key) reload(key);
      return inventory.clients;
    };

    let mirror: StoreMirror | null = null;
    if (fromStore) {
      const trustFile = stringOpt(ctx, 'trust-key');
      const store = await openStore(parseStoreUrl(buildArg), { endpoint: stringOpt(ctx, 'endpoint'), pathStyle: ctx.values['path-style'] === true || undefined });
      mirror = await mirrorStore(store, {
        cacheDir: buildDir,
        trustedKey: trustFile ? readOptionFile(resolve(trustFile), 'trusted signing key', 'CONFIG') : undefined,
        pollMs: intOption(ctx, 'poll', 5) * 1000,
        log: (event) => log(JSON.stringify({ time: new Date().toISOString(), ...event })),
      });
    }
    const server = await startServer({
      health: mirror ? () => ({ store: mirror.health() }) : undefined,
      buildDir,
      tls,
      clients,
      policy,
      stateDir,
      host,
      port,
      log,
      rateLimit,
      resolver,
      ...(isWorker() ? { limiter: workerLimiter() } : {}),
    });
    // Handlers first: a supervisor may signal as soon as it reads the "listening" line.
    const stopped = new Promise<void>((done) => {
      const hup = () => reload(inventory.key);
      let stopping = false;
      // The handlers stay installed while closing: removing the last one would restore the
      // default action, and a repeated signal would then kill the process mid-close.
      const stop = () => {
        if (stopping) return;
        stopping = true;
        mirror?.close();
        void server.close().then(() => {
          sink.close();
          leavePool();
          done();
        });
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      process.on('SIGHUP', hup);
    });
    if (isWorker()) {
      announceListening(server.url);
    } else {
      announce(ctx, server.url, { buildDir, stateDir }, hazards, 1);
    }
    await stopped;
    return 0;
  },
};

/** The start-up lines: where it listens, warnings, and the JSON result. */
function announce(ctx: CommandContext, url: string, where: { buildDir: string; stateDir: string }, hazards: readonly Diagnostic[], workers: number): void {
  const { host, port } = new URL(url);
  ctx.io.info(`listening on ${url} (build ${where.buildDir}, state ${where.stateDir}${workers > 1 ? `, ${workers} workers` : ''})`);
  for (const h of hazards) ctx.io.warn(h);
  if (!existsSync(join(where.buildDir, 'current'))) {
    ctx.io.warn({ code: 'no-build', file: where.buildDir, message: `nothing is published here yet; clients get 503 until bindery build --out ${where.buildDir} runs` });
  }
  ctx.io.result({ ok: true, url, host: host.replace(/^\[|\]$/g, ''), port: Number(port), build: where.buildDir, state: where.stateDir, workers, warnings: hazards });
}

/** The primary of --workers N: start the workers (each runs this command), pass signals on, stop them together. */
async function runPool(ctx: CommandContext, n: number, rateLimit: { maxFailures: number; windowMs: number }, where: { buildDir: string; stateDir: string }, hazards: readonly Diagnostic[]): Promise<number> {
  const { startWorkers } = await import('../../server/index.js');
  const pool = startWorkers(n, rateLimit);
  let stopping = false;
  const stopped = new Promise<number>((done) => {
    const stop = () => {
      if (stopping) return;
      stopping = true;
      void pool.stop().then(() => done(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    process.on('SIGHUP', () => pool.signal('SIGHUP'));
    void pool.died.then((code) => {
      if (stopping) return;
      stopping = true;
      ctx.io.warn({ code: 'worker-died', message: `a server worker exited (code ${code}); stopping the others` });
      void pool.stop().then(() => done(code === 2 ? 2 : 70));
    });
  });
  const first = await Promise.race([pool.listening, stopped]);
  if (typeof first === 'number') return first;
  announce(ctx, first, where, hazards, n);
  return stopped;
}
