/**
 * Benchmark (not a test) of `bindery serve`: requests per second for 304s (If-None-Match) and for
 * full downloads, with N concurrent keep-alive clients, and the server process's memory.
 * The server runs in a child process (so its memory is its own) on 127.0.0.1 only; every loop
 * is bounded by a request count.
 *
 *   node --import tsx scripts/bench-server.ts [--hosts 500] [--files 20] [--concurrency 1,16,64] [--requests 4000] [--json]
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { initCa, issueCertificate } from '../src/ca/index.ts';
import { startServer } from '../src/server/index.ts';
import type { ClientAuth } from '../src/types.ts';
import { makeSigningKey, publish, type HostFiles } from '../test/fixtures/server-kit/index.ts';

const PASSWORD = 'bench-global-password';

interface ChildConfig {
  readonly buildDir: string;
  readonly stateDir: string;
  readonly hosts: number;
  readonly tls: { cert: string; key: string; ca: string };
}

type ChildMessage = { port: number } | { memory: NodeJS.MemoryUsage };

const clientsOf = (n: number): ClientAuth[] =>
  Array.from({ length: n }, (_, i) => ({ hostname: `host${i}.example.com`, auth: null, uuid: null, password: null, secure: false, floating: true, addresses: [], aliases: [] }));

/** The server side: start, report the port, answer memory questions. */
async function child(config: ChildConfig): Promise<void> {
  const clients = clientsOf(config.hosts);
  const server = await startServer({
    buildDir: config.buildDir,
    tls: config.tls,
    clients: () => clients,
    policy: { globalPassword: PASSWORD, defaultAuth: 'cert+password' },
    stateDir: config.stateDir,
    host: '127.0.0.1',
    port: 0,
    log: () => {},
  });
  process.send!({ port: server.port } satisfies ChildMessage);
  process.on('message', (m) => {
    if (m === 'memory') process.send!({ memory: process.memoryUsage() } satisfies ChildMessage);
    if (m === 'stop') void server.close().then(() => process.exit(0));
  });
}

function get(agent: Agent, port: number, ca: string, host: string, etag: string | null): Promise<{ status: number; etag: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/config',
        agent,
        ca,
        headers: { authorization: 'Basic ' + Buffer.from(`${host}:${PASSWORD}`).toString('base64'), ...(etag ? { 'if-none-match': etag } : {}) },
      },
      (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: String(res.headers.etag ?? ''), bytes }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '500' },
      files: { type: 'string', default: '20' },
      concurrency: { type: 'string', default: '1,16,64' },
      requests: { type: 'string', default: '4000' },
      json: { type: 'boolean' },
      child: { type: 'string' },
    },
  });
  if (values.child) return child(JSON.parse(values.child) as ChildConfig);

  const hosts = Number(values.hosts);
  const filesPerHost = Number(values.files);
  const levels = values.concurrency!.split(',').map(Number);
  const requests = Number(values.requests);
  const dir = mkdtempSync(join(tmpdir(), 'bindery-bench-server-'));
  const say = (s: string) => values.json || process.stderr.write(s + '\n');
  try {
    say(`setting up: CA, server certificate, a build of ${hosts} hosts × ${filesPerHost} files`);
    initCa(join(dir, 'ca'));
    const ca = readFileSync(join(dir, 'ca', 'ca.crt'), 'utf8');
    const serverCert = issueCertificate(join(dir, 'ca'), 'bench.server', { server: true });
    const key = makeSigningKey(dir);
    const build: HostFiles = {};
    for (let h = 0; h < hosts; h++) {
      build[`host${h}.example.com`] = Object.fromEntries(
        // Half text, half random: tarballs of realistic size after gzip.
        Array.from({ length: filesPerHost }, (_, f) => [`/etc/bench/file${f}.conf`, `# host${h} file${f}\n` + `setting_${f} = ${h * 31 + f}\n`.repeat(20) + randomBytes(512).toString('base64') + '\n']),
      );
    }
    const manifest = publish(join(dir, 'out'), build, key);
    const tarballBytes = Object.keys(manifest.hosts).reduce((n, h) => n + statSync(join(dir, 'out', 'hosts', `${h}.tar.gz`)).size, 0) / hosts;
    const config: ChildConfig = { buildDir: join(dir, 'out'), stateDir: join(dir, 'state'), hosts, tls: { cert: serverCert.certPem, key: serverCert.keyPem, ca } };
    const server = fork(fileURLToPath(import.meta.url), ['--child', JSON.stringify(config)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const next = () => new Promise<ChildMessage>((resolve) => server.once('message', (m) => resolve(m as ChildMessage)));
    const { port } = (await next()) as { port: number };
    const memory = async () => {
      server.send('memory');
      return ((await next()) as { memory: NodeJS.MemoryUsage }).memory;
    };
    const baseline = await memory();
    say(`average tarball ${(tarballBytes / 1024).toFixed(1)} KiB; server RSS ${(baseline.rss / 1e6).toFixed(0)} MB at start`);
    let peakRss = baseline.rss;

    const results: { mode: string; concurrency: number; requests: number; seconds: number; rps: number; mbPerSecond: number; rssMb: number }[] = [];
    for (const mode of ['304', 'full'] as const) {
      for (const concurrency of levels) {
        // One keep-alive connection per simulated client, as real clients would hold.
        const agents = Array.from({ length: concurrency }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
        const etags = new Map<string, string>();
        for (let c = 0; c < concurrency; c++) {
          const host = `host${c % hosts}.example.com`;
          etags.set(host, (await get(agents[c]!, port, ca, host, null)).etag);
        }
        const run = async (total: number) => {
          let issued = 0;
          let bytes = 0;
          await Promise.all(
            agents.map(async (agent, c) => {
              const host = `host${c % hosts}.example.com`;
              while (issued < total) {
                issued++;
                const r = await get(agent, port, ca, host, mode === '304' ? etags.get(host)! : null);
                if (r.status !== (mode === '304' ? 304 : 200)) throw new Error(`unexpected ${r.status}`);
                bytes += r.bytes;
              }
            }),
          );
          return bytes;
        };
        await run(Math.min(500, requests)); // warm-up: JIT, TLS sessions, the server's tarball cache
        const started = process.hrtime.bigint();
        const bytes = await run(requests);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        agents.forEach((a) => a.destroy());
        const rss = (await memory()).rss;
        peakRss = Math.max(peakRss, rss);
        const row = { mode, concurrency, requests, seconds, rps: requests / seconds, mbPerSecond: bytes / seconds / 1e6, rssMb: rss / 1e6 };
        results.push(row);
        say(`${mode.padEnd(4)} c=${String(concurrency).padStart(3)}: ${row.rps.toFixed(0).padStart(6)} req/s  ${row.mbPerSecond.toFixed(1).padStart(6)} MB/s  server RSS ${row.rssMb.toFixed(0)} MB`);
      }
    }
    server.send('stop');
    await new Promise((r) => server.once('exit', r));
    const summary = { hosts, filesPerHost, averageTarballBytes: Math.round(tarballBytes), baselineRssMb: baseline.rss / 1e6, peakRssMb: peakRss / 1e6, results };
    say(`server memory: ${summary.baselineRssMb.toFixed(0)} MB at start, ${summary.peakRssMb.toFixed(0)} MB peak`);
    if (values.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
