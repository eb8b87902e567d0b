/** Small HTTP pieces of the server: answers, request bodies, conditional requests, credentials. */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { normalizeAddress, parseBasic, type Credentials } from './auth.js';

export function send(res: ServerResponse, status: number, body: string | Buffer, headers: OutgoingHttpHeaders = {}): void {
  const data = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'content-length': data.length, 'cache-control': 'no-store', ...headers });
  res.end(data);
}

export const sendJson = (res: ServerResponse, status: number, value: unknown, headers: OutgoingHttpHeaders = {}) =>
  send(res, status, JSON.stringify(value) + '\n', { 'content-type': 'application/json', ...headers });

/** The connection's source address, written the one canonical way. */
export const sourceAddress = (req: IncomingMessage) => normalizeAddress(req.socket.remoteAddress ?? '');

export function credentials(req: IncomingMessage): Credentials {
  const socket = req.socket as TLSSocket;
  const peer = socket.getPeerCertificate();
  const presented = peer !== null && typeof peer === 'object' && Object.keys(peer).length > 0;
  let cert: Credentials['cert'] = null;
  if (presented) {
    const cn = peer.subject?.CN as string | string[] | undefined;
    const problem = socket.authorizationError ? String(socket.authorizationError) : undefined;
    cert = { commonNames: cn === undefined ? [] : Array.isArray(cn) ? cn : [cn], trusted: socket.authorized, problem };
  }
  return { cert, basic: parseBasic(req.headers.authorization), address: sourceAddress(req) };
}

/** Does If-None-Match name this ETag (`*`, a list, weak or strong)? */
export function notModified(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header === etag) return true;
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

/** The request body, or 'too-large' as soon as it passes `limit` bytes (the rest is discarded, not buffered). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limit) return resolve('too-large');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        resolve('too-large');
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
