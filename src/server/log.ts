/**
 * The decision log: one JSON line per decision. Lines are collected and written together once
 * per turn of the event loop (one write, not one per request); repeated 429s for the same source
 * are folded into one line per interval, so a client hammering the server cannot grow the log
 * faster than its own failed logins allow.
 */
import { closeSync, openSync, write, writeSync } from 'node:fs';
import { BinderyError } from '../errors.js';
import { limitKey } from './ratelimit.js';

/** What a log line says about one request; never a password, token, user string or file content. */
export interface LogEntry {
  client: string | null;
  method: string | null;
  address: string;
  route: string;
  status: number;
  result: 'ok' | 'denied' | 'limited' | 'error';
  reason?: string;
  /** For a folded line: how many requests it stands for, and since when. */
  count?: number;
  since?: string;
}

export interface LineSink {
  write(line: string): void;
  /** Write what is pending, synchronously (at exit). */
  close(): void;
}

/**
 * Append lines to `file` (or stderr), batched: whatever was logged during one turn of the
 * event loop goes out in one write. O_APPEND keeps lines of several processes whole.
 */
export function openLineSink(file: string | null): LineSink {
  let fd: number | null = null;
  if (file) {
    try {
      fd = openSync(file, 'a', 0o600);
    } catch (e) {
      throw new BinderyError('CONFIG', `cannot open the decision log: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file }, 'give --log a file in a directory that exists and the server can write');
    }
  }
  let pending: string[] = [];
  let writing = false;
  const out = (text: string, done: () => void) => {
    if (fd === null) process.stderr.write(text, done);
    else write(fd, text, null, 'utf8', () => done());
  };
  const flush = () => {
    if (writing || pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    writing = true;
    out(text, () => {
      writing = false;
      flush();
    });
  };
  return {
    write(line) {
      if (pending.length === 0 && !writing) setImmediate(flush);
      pending.push(line + '\n');
    },
    close() {
      const text = pending.join('');
      pending = [];
      if (text) {
        if (fd === null) process.stderr.write(text);
        else writeSync(fd, text);
      }
      if (fd !== null) closeSync(fd);
      fd = null;
    },
  };
}

export interface DecisionLog {
  record(e: LogEntry): void;
  /** A rate-limited request: the first per source is logged, the rest counted into one line per interval. */
  limited(e: LogEntry): void;
  /** Write out the folded counts (the server is closing). */
  close(): void;
}

export function decisionLog(line: (text: string) => void, foldMs = 10_000): DecisionLog {
  const write = (e: LogEntry, time = new Date()) => line(JSON.stringify({ time: time.toISOString(), ...e }));
  const folded = new Map<string, { entry: LogEntry; count: number; since: Date }>();
  const drain = () => {
    for (const f of folded.values()) if (f.count > 0) write({ ...f.entry, reason: `${f.entry.reason} (repeated)`, count: f.count, since: f.since.toISOString() });
    folded.clear();
  };
  let timer: NodeJS.Timeout | null = null;
  return {
    record: (e) => write(e),
    limited(e) {
      const key = limitKey(e.address);
      const f = folded.get(key);
      if (f) {
        f.count++;
        return;
      }
      write(e);
      folded.set(key, { entry: e, count: 0, since: new Date() });
      timer ??= setInterval(() => (folded.size ? drain() : (clearInterval(timer!), (timer = null))), foldMs).unref();
    },
    close() {
      if (timer) clearInterval(timer);
      timer = null;
      drain();
    },
  };
}
