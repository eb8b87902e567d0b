/**
 * `bindery serve --workers N`: N server processes (node:cluster) sharing one listening socket.
 * What must hold across them:
 *  - bootstrap exactly-once needs nothing more: the claim is an exclusive file create in the
 *    state directory, which one process wins;
 *  - rate limits are kept by the primary: each worker reports its failed logins to it, and it
 *    tells every worker which sources are limited until when. A worker answers from that list,
 *    so a check costs no round trip; a source may get a few more tries, one per worker in flight.
 */
import cluster, { type Worker } from 'node:cluster';
import { createRateLimiter, limitKey, type RateLimiter, type RateLimitOptions } from './ratelimit.js';

type FromWorker = { readonly bindery: 'failure'; readonly address: string } | { readonly bindery: 'listening'; readonly url: string };
type FromPrimary = { readonly bindery: 'limited'; readonly key: string; readonly until: number };

const isMessage = (m: unknown): m is { bindery: string } => typeof m === 'object' && m !== null && typeof (m as { bindery?: unknown }).bindery === 'string';

export const isWorker = () => cluster.isWorker;

/** In a worker: the limiter whose state the primary keeps. */
export function workerLimiter(): RateLimiter {
  const limited = new Map<string, number>();
  process.on('message', (m: unknown) => {
    if (isMessage(m) && m.bindery === 'limited') {
      const { key, until } = m as FromPrimary;
      limited.set(key, until);
    }
  });
  return {
    retryAfter(address, now = Date.now()) {
      const key = limitKey(address);
      const until = limited.get(key);
      if (until === undefined) return 0;
      if (until <= now) {
        limited.delete(key);
        return 0;
      }
      return Math.max(1, Math.ceil((until - now) / 1000));
    },
    recordFailure(address) {
      process.send?.({ bindery: 'failure', address } satisfies FromWorker);
    },
  };
}

/** In a worker whose server has closed: let go of the primary, or the open channel keeps the process alive. */
export function leavePool(): void {
  if (cluster.isWorker) process.disconnect();
}

/** In a worker: tell the primary the server listens. */
export function announceListening(url: string): void {
  process.send?.({ bindery: 'listening', url } satisfies FromWorker);
}

export interface WorkerPool {
  /** The URL the workers listen on, once all of them do. */
  readonly listening: Promise<string>;
  /** Resolves when a worker dies on its own (a crash), with its exit code. */
  readonly died: Promise<number>;
  /** Pass a signal on to every worker (SIGHUP: reload clients.xml). */
  signal(sig: NodeJS.Signals): void;
  /** Stop every worker and wait for them. */
  stop(): Promise<void>;
}

/** In the primary: start `n` workers running this same command, and keep their rate limits. */
export function startWorkers(n: number, rateLimit: RateLimitOptions): WorkerPool {
  // Each worker accepts its own connections (the kernel spreads them), rather than the primary
  // accepting every connection and handing it over.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const limiter = createRateLimiter(rateLimit);
  const workers: Worker[] = [];
  let stopping = false;
  let ready = 0;
  let onListening!: (url: string) => void;
  let onDied!: (code: number) => void;
  const listening = new Promise<string>((r) => (onListening = r));
  const died = new Promise<number>((r) => (onDied = r));
  for (let i = 0; i < n; i++) {
    const w = cluster.fork();
    workers.push(w);
    w.on('message', (m: unknown) => {
      if (!isMessage(m)) return;
      const msg = m as FromWorker;
      if (msg.bindery === 'listening' && ++ready === n) onListening(msg.url);
      if (msg.bindery === 'failure') {
        limiter.recordFailure(msg.address);
        const seconds = limiter.retryAfter(msg.address);
        if (seconds > 0) {
          const note: FromPrimary = { bindery: 'limited', key: limitKey(msg.address), until: Date.now() + seconds * 1000 };
          for (const other of workers) if (other.isConnected()) other.send(note);
        }
      }
    });
    w.on('exit', (code) => {
      if (!stopping) onDied(code ?? 70);
    });
  }
  return {
    listening,
    died,
    signal(sig) {
      for (const w of workers) w.process.kill(sig);
    },
    stop() {
      stopping = true;
      return Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((done) => {
              if (w.isDead()) return done();
              w.once('exit', () => done());
              w.process.kill('SIGTERM');
            }),
        ),
      ).then(() => undefined);
    },
  };
}
