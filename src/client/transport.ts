/**
 * The HTTPS side of fetch: requests with an idle timeout and an overall deadline, and the
 * download of the configuration straight into a temporary file, capped at the size the signed
 * record states, so a hostile server can neither fill memory nor hold the run open forever.
 */
import { Agent, request, type RequestOptions } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { BinderyError } from '../errors.js';

function fail(message: string, hint?: string): never {
  throw new BinderyError('FETCH', message, {}, hint);
}

export interface Connection {
  readonly server: string;
  readonly agent: Agent;
  readonly authorization: string | null;
  /** When the whole run must be over (ms since the epoch), whatever the server does. */
  readonly deadline: number;
  /** Longest silence from the server. */
  readonly idleMs: number;
}

export function connect(opts: { server: string; ca: string; cert?: string; key?: string; user?: string; password?: string; localAddress?: string; timeoutMs: number; idleMs?: number }): Connection {
  const url = new URL(opts.server);
  if (url.protocol !== 'https:') fail(`the server URL must be https://, not ${url.protocol}`, 'bindery serve speaks HTTPS only');
  return {
    server: opts.server,
    agent: new Agent({ keepAlive: true, ca: opts.ca, cert: opts.cert, key: opts.key, minVersion: 'TLSv1.2', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }),
    authorization: opts.user !== undefined ? 'Basic ' + Buffer.from(`${opts.user}:${opts.password ?? ''}`).toString('base64') : null,
    deadline: Date.now() + opts.timeoutMs,
    idleMs: opts.idleMs ?? 60_000,
  };
}

/** Signed host records with many files are larger than Node's 16 KiB default for all headers. */
const MAX_HEADER_BYTES = 1 << 20;
/** Error answers and the report's answer are small JSON documents. */
const MAX_SMALL_BODY = 1 << 20;

/**
 * One request; `onResponse` consumes the body. The deadline and the idle timeout destroy the
 * request whatever state it is in, and say which one struck.
 */
function exchange<T>(c: Connection, method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, onResponse: (res: IncomingMessage) => Promise<T>): Promise<T> {
  const options: RequestOptions = {
    method,
    agent: c.agent,
    maxHeaderSize: MAX_HEADER_BYTES,
    headers: { ...(c.authorization ? { authorization: c.authorization } : {}), ...headers, ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}) },
    timeout: c.idleMs,
  };
  return new Promise<T>((resolvePromise, reject) => {
    const left = c.deadline - Date.now();
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const req = request(new URL(path, c.server), options, (res) => {
      onResponse(res).then(
        (v) => settle(() => resolvePromise(v)),
        (e) => settle(() => {
          req.destroy();
          reject(e);
        }),
      );
    });
    const stop = (message: string, hint: string) => {
      const e = new BinderyError('FETCH', message, {}, hint);
      settle(() => reject(e));
      req.destroy(e);
    };
    const timer = setTimeout(() => stop(`the run took longer than its deadline (--timeout) while talking to ${c.server}: nothing more was applied`, 'the server is very slow or holding the connection open on purpose; raise --timeout if it is only slow'), Math.max(0, left));
    req.on('timeout', () => stop(`${c.server} sent nothing for ${Math.round(c.idleMs / 1000)} s`, 'check that bindery serve is running and reachable'));
    req.on('error', (e: NodeJS.ErrnoException) =>
      settle(() =>
        reject(e instanceof BinderyError ? e : new BinderyError('FETCH', `cannot reach ${c.server}: ${e.code ?? e.message}`, {}, e.code?.startsWith('ERR_TLS') || /certificate|self.signed/i.test(e.message) ? 'check --ca: it must be the CA that signed the server certificate' : 'check --server and that bindery serve is running')),
      ),
    );
    req.end(body);
  });
}

/** A body of at most `limit` bytes, in memory. */
function readSmall(res: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    res.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) return reject(new BinderyError('FETCH', `the server's answer is larger than ${limit} bytes`, {}, 'is --server a bindery serve?'));
      chunks.push(c);
    });
    res.on('end', () => resolvePromise(Buffer.concat(chunks)));
    res.on('error', reject);
  });
}

function checkStatus(status: number, headers: IncomingHttpHeaders, data: Buffer, what: string): void {
  if (status === 200) return;
  if (status === 401) fail(`the server refused this client's credentials (401) for ${what}`, 'check the certificate (--cert/--key) or --user/--password, and that this host\'s address is the one in clients.xml');
  if (status === 429) fail(`too many failed logins from this address (429); retry after ${headers['retry-after'] ?? 'a while'} s`);
  if (status === 404 && what === 'the configuration') fail('the server has no configuration for this client in its current build', 'look at the build\'s failures for this host');
  // Any other answer of bindery serve is JSON with an error that says why.
  let said = '';
  try {
    said = String((JSON.parse(data.toString('utf8')) as { error?: unknown }).error ?? '');
  } catch {
    // not an answer of bindery serve
  }
  fail(`the server answered ${status} for ${what}${said ? `: ${said}` : ''}`, status === 503 ? 'try again later; if it persists, run bindery build on the server' : undefined);
}

/** GET a small document (at most `limit` bytes); the answer must be 200. */
export function get(c: Connection, path: string, headers: Record<string, string>, limit: number, what: string): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return exchange(c, 'GET', path, headers, undefined, async (res) => {
    const body = await readSmall(res, limit);
    checkStatus(res.statusCode ?? 0, res.headers, body, what);
    return { headers: res.headers, body };
  });
}

/** POST a small JSON document; the answer must be 200. */
export function post(c: Connection, path: string, body: Buffer, headers: Record<string, string>, what: string): Promise<void> {
  return exchange(c, 'POST', path, headers, body, async (res) => {
    const data = await readSmall(res, MAX_SMALL_BODY);
    checkStatus(res.statusCode ?? 0, res.headers, data, what);
  });
}

export type Download =
  | { readonly status: 'unchanged'; readonly headers: IncomingHttpHeaders }
  | { readonly status: 'ok'; readonly headers: IncomingHttpHeaders; readonly file: string; readonly sha256: string; readonly size: number };

/**
 * GET the configuration. `inspect` sees the headers first (to get and verify the signed record)
 * and returns the size the body must have; the body then goes into `file`, hashed on the way,
 * and the request is cut as soon as it would pass that limit. 304 (with If-None-Match) is
 * 'unchanged'.
 */
export function download(c: Connection, path: string, headers: Record<string, string>, file: string, inspect: (headers: IncomingHttpHeaders) => Promise<number>): Promise<Download> {
  return exchange(c, 'GET', path, headers, undefined, async (res) => {
    const status = res.statusCode ?? 0;
    if (status === 304) {
      res.resume();
      return { status: 'unchanged', headers: res.headers };
    }
    if (status !== 200) checkStatus(status, res.headers, await readSmall(res, MAX_SMALL_BODY), 'the configuration');
    // The body waits (paused, held back by TCP) while inspect fetches and verifies the record.
    const limit = await inspect(res.headers);
    const tooBig = (n: string) => new BinderyError('FETCH', `the server sent ${n} bytes, more than the ${limit} its signed record states: nothing was applied`, {}, 'a hostile or broken server looks like this');
    const declared = res.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) throw tooBig(declared);
    const hash = createHash('sha256');
    const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
    let size = 0;
    await new Promise<void>((resolvePromise, reject) => {
      const abort = (e: Error) => {
        res.destroy();
        out.destroy();
        reject(e);
      };
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) return abort(tooBig(`at least ${size}`));
        hash.update(chunk);
        if (!out.write(chunk)) {
          res.pause();
          out.once('drain', () => res.resume());
        }
      });
      res.on('error', abort);
      res.on('close', () => {
        if (!res.complete) abort(new BinderyError('FETCH', 'the server closed the connection in the middle of the configuration: nothing was applied', {}, 'try again'));
      });
      res.on('end', () => out.end(() => resolvePromise()));
      out.on('error', abort);
    });
    return { status: 'ok', headers: res.headers, file, sha256: hash.digest('hex'), size };
  });
}
