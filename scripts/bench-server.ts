/**
 * Benchmark (not a test) of `bindery serve` against nginx in the same run: the same tarballs,
 * the same certificate, TLS versions and suites, the same number of worker processes, each
 * request authenticated (nginx: Basic auth from a password file; bindery: clients.xml and the
 * global password) and logged. wrk drives both, on 127.0.0.1 only, for a fixed duration.
 *
 *   node --import tsx scripts/bench-server.ts [--hosts 200] [--files 20] [--seconds 5] [--rounds 3] [--connections 16] [--workers 1,2] [--json]
 *
 * Modes: "full" downloads and "304" (If-None-Match) on kept-alive connections, and "new-tls":
 * full downloads each on a new TLS connection, as separate client runs do.
 * Needs nginx (apt-get install nginx) and wrk (apt-get install wrk).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { initCa, issueCertificate } from '../src/ca/index.ts';
import { makeSigningKey, publish, type HostFiles } from '../test/fixtures/server-kit/index.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
const PASSWORD = 'bench-global-password';
/** The TLS 1.2 suites bindery serve allows (src/server/tls.ts), for nginx too. */
const TLS12_SUITES = 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256';

type Mode = 'full' | '304' | 'new-tls';

function need(tool: string, pkg: string): string {
  for (const p of [`/usr/sbin/${tool}`, `/usr/bin/${tool}`, tool]) if (!spawnSync(p, ['-v'], { stdio: 'ignore' }).error) return p;
  throw new Error(`${tool} is needed for this benchmark: apt-get install ${pkg}`);
}

const basic = (host: string) => 'Basic ' + Buffer.from(`${host}:${PASSWORD}`).toString('base64');

/** Each host's ETag as this server gives it (for the 304 mode). */
async function etags(port: number, ca: string, hosts: readonly string[]): Promise<string[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  try {
    return await Promise.all(
      hosts.map(
        (host) =>
          new Promise<string>((done, fail) => {
            const req = request({ host: '127.0.0.1', port, path: '/v1/config', ca, servername: 'localhost', agent, headers: { authorization: basic(host) } }, (res) => {
              res.resume();
              res.on('end', () => (res.statusCode === 200 ? done(String(res.headers.etag)) : fail(new Error(`GET /v1/config as ${host}: ${res.statusCode}`))));
            });
            req.on('error', fail);
            req.end();
          }),
      ),
    );
  } finally {
    agent.destroy();
  }
}

/** A wrk script cycling through the hosts, with their ETags in the 304 mode, closing each connection in new-tls. */
function wrkScript(file: string, hosts: readonly string[], tags: readonly string[] | null, close: boolean): void {
  const lua = (s: string) => JSON.stringify(s);
  writeFileSync(
    file,
    [
      `local auth = {${hosts.map((h) => lua(basic(h))).join(',')}}`,
      `local tags = {${(tags ?? []).map(lua).join(',')}}`,
      'local i = 0',
      'request = function()',
      '  i = (i % #auth) + 1',
      '  local h = { ["Authorization"] = auth[i] }',
      '  if #tags > 0 then h["If-None-Match"] = tags[i] end',
      close ? '  h["Connection"] = "close"' : '',
      '  return wrk.format("GET", "/v1/config", h)',
      'end',
      '',
    ].join('\n'),
  );
}

function runWrk(wrk: string, port: number, script: string, seconds: number, connections: number): { rps: number; bad: number } {
  const r = spawnSync(wrk, ['-t', '2', '-c', String(connections), '-d', `${seconds}s`, '-s', script, `https://127.0.0.1:${port}/v1/config`], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  const bad = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
  if (!Number.isFinite(rps)) throw new Error(`wrk failed: ${r.stdout}${r.stderr}`);
  return { rps, bad };
}

function waitForPort(port: number, ca: string): Promise<void> {
  return new Promise((done, fail) => {
    let tries = 0;
    const attempt = () => {
      const req = request({ host: '127.0.0.1', port, path: '/healthz', ca, servername: 'localhost', agent: false }, (res) => {
        res.resume();
        done();
      });
      req.on('error', () => (++tries > 100 ? fail(new Error(`nothing listens on ${port}`)) : setTimeout(attempt, 100)));
      req.end();
    };
    attempt();
  });
}

const stop = (p: ChildProcess) =>
  new Promise<void>((done) => {
    if (p.exitCode !== null) return done();
    p.once('exit', () => done());
    p.kill('SIGTERM');
  });

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '200' },
      files: { type: 'string', default: '20' },
      seconds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '16' },
      workers: { type: 'string', default: '1,2' },
      rounds: { type: 'string', default: '3' },
      json: { type: 'boolean' },
    },
  });
  const nginx = need('nginx', 'nginx');
  const wrk = need('wrk', 'wrk');
  const hostCount = Number(values.hosts);
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const rounds = Number(values.rounds);
  const say = (s: string) => values.json || process.stderr.write(s + '\n');
  const dir = mkdtempSync(join(tmpdir(), 'bindery-bench-server-'));
  const children: ChildProcess[] = [];
  try {
    say(`setting up: CA, server certificate, a build of ${hostCount} hosts × ${values.files} files`);
    initCa(join(dir, 'ca'));
    const ca = readFileSync(join(dir, 'ca', 'ca.crt'), 'utf8');
    const cert = issueCertificate(join(dir, 'ca'), 'bench.server', { server: true });
    writeFileSync(join(dir, 'server.crt'), cert.certPem);
    writeFileSync(join(dir, 'server.key'), cert.keyPem, { mode: 0o600 });
    const hosts = Array.from({ length: hostCount }, (_, h) => `host${h}.example.com`);
    const build: HostFiles = {};
    for (const [h, host] of hosts.entries()) {
      build[host] = Object.fromEntries(
        // Half text, half random: tarballs of realistic size after gzip.
        Array.from({ length: Number(values.files) }, (_, f) => [`/etc/bench/file${f}.conf`, `# host${h} file${f}\n` + `setting_${f} = ${h * 31 + f}\n`.repeat(20) + randomBytes(512).toString('base64') + '\n']),
      );
    }
    const out = join(dir, 'out');
    const manifest = await publish(out, build, makeSigningKey(dir));
    const tarballBytes = hosts.reduce((n, h) => n + readFileSync(join(out, manifest.hosts[h]!.tarball)).length, 0) / hostCount;

    // bindery: a repository whose clients.xml lists the hosts (floating, the global password).
    const repo = join(dir, 'repo');
    mkdirSync(join(repo, 'Metadata'), { recursive: true });
    writeFileSync(join(repo, 'Metadata', 'groups.xml'), '<Groups><Group name="bench" profile="true"/></Groups>\n');
    writeFileSync(join(repo, 'Metadata', 'clients.xml'), `<Clients>\n${hosts.map((h) => `  <Client name="${h}" profile="bench" floating="true"/>`).join('\n')}\n</Clients>\n`);
    writeFileSync(join(repo, 'bcfg2.conf'), `[communication]\npassword = ${PASSWORD}\n`);

    // nginx: the same tarball files, one per user name, behind Basic auth.
    const web = join(dir, 'nginx-root');
    mkdirSync(web);
    for (const h of hosts) symlinkSync(join(out, manifest.hosts[h]!.tarball), join(web, h));
    writeFileSync(join(dir, 'htpasswd'), hosts.map((h) => `${h}:{PLAIN}${PASSWORD}`).join('\n') + '\n');
    for (const t of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, `nginx-${t}`));

    const rows: { mode: Mode; workers: number; bindery: number; nginx: number; ratio: number }[] = [];
    let port = 20000 + Math.floor(Math.random() * 20000);
    for (const workers of values.workers!.split(',').map(Number)) {
      const bport = port++;
      const nport = port++;
      const b = spawn(process.execPath, [join(ROOT, 'bin', 'bindery.js'), 'serve', '--build', out, '--repo', repo, '--tls-cert', join(dir, 'server.crt'), '--tls-key', join(dir, 'server.key'), '--ca', join(dir, 'ca'), '--listen', `127.0.0.1:${bport}`, '--state', join(dir, `state-${workers}`), '--log', join(dir, `bindery-${workers}.log`), '--workers', String(workers)], { stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(b);
      const conf = join(dir, `nginx-${workers}.conf`);
      writeFileSync(
        conf,
        `daemon off;
master_process on;
worker_processes ${workers};
${process.getuid?.() === 0 ? 'user root;' : ''}
pid ${dir}/nginx-${workers}.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log ${dir}/nginx-access-${workers}.log combined buffer=64k flush=1s;
  client_body_temp_path ${dir}/nginx-body; proxy_temp_path ${dir}/nginx-proxy; fastcgi_temp_path ${dir}/nginx-fastcgi; uwsgi_temp_path ${dir}/nginx-uwsgi; scgi_temp_path ${dir}/nginx-scgi;
  server {
    listen 127.0.0.1:${nport} ssl;
    ssl_certificate ${dir}/server.crt;
    ssl_certificate_key ${dir}/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ${TLS12_SUITES};
    ssl_prefer_server_ciphers on;
    # bindery asks every client for a certificate (optional): so does nginx here.
    ssl_client_certificate ${dir}/ca/ca.crt;
    ssl_verify_client optional;
    location = /healthz { return 200 "ok\\n"; }
    location = /v1/config {
      auth_basic "bindery";
      auth_basic_user_file ${dir}/htpasswd;
      root ${web};
      default_type application/gzip;
      try_files /$remote_user =404;
    }
  }
}
`,
      );
      const n = spawn(nginx, ['-c', conf, '-e', join(dir, 'nginx-error.log')], { stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(n);
      await Promise.all([waitForPort(bport, ca), waitForPort(nport, ca)]);
      const sample = hosts.slice(0, Math.min(hosts.length, 100));
      const tags = { bindery: await etags(bport, ca, sample), nginx: await etags(nport, ca, sample) };
      for (const mode of ['full', '304', 'new-tls'] as const) {
        const measured: Record<'bindery' | 'nginx', number> = { bindery: 0, nginx: 0 };
        const servers = [['bindery', bport], ['nginx', nport]] as const;
        for (const [name, p] of servers) {
          wrkScript(join(dir, `${name}-${mode}.lua`), sample, mode === '304' ? tags[name] : null, mode === 'new-tls');
          runWrk(wrk, p, join(dir, `${name}-${mode}.lua`), 1, connections); // warm-up: JIT, caches
        }
        // Alternating rounds, the best of each: on a shared machine, load from elsewhere then hits both alike.
        for (let round = 0; round < rounds; round++) {
          for (const [name, p] of servers) {
            const r = runWrk(wrk, p, join(dir, `${name}-${mode}.lua`), seconds, connections);
            if (r.bad) throw new Error(`${name} ${mode}: ${r.bad} answers were neither 2xx nor 3xx`);
            measured[name] = Math.max(measured[name], r.rps);
          }
        }
        const row = { mode, workers, bindery: measured.bindery, nginx: measured.nginx, ratio: measured.bindery / measured.nginx };
        rows.push(row);
        say(`${mode.padEnd(7)} workers=${workers}: bindery ${row.bindery.toFixed(0).padStart(6)} req/s   nginx ${row.nginx.toFixed(0).padStart(6)} req/s   ratio ${row.ratio.toFixed(2)}`);
      }
      await Promise.all([stop(b), stop(n)]);
    }
    const summary = { hosts: hostCount, filesPerHost: Number(values.files), averageTarballBytes: Math.round(tarballBytes), seconds, rounds, connections, loadAverage: loadavg(), rows };
    say(`average tarball ${(tarballBytes / 1024).toFixed(1)} KiB; ${connections} connections, best of ${rounds} runs of ${seconds} s, wrk -t 2; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    if (values.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  } finally {
    await Promise.all(children.map(stop));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
