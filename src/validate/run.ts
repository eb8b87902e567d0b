import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';

/**
 * How much of each output stream a message keeps; the rest is read and dropped (no deadlock).
 * Small, because the message is repeated in the failure of every host sharing the content
 * (--json, manifest): 64 KiB × 1,000 hosts made a 65 MB manifest.
 */
export const OUTPUT_CAP = 4 * 1024;
/** After a kill, how long to wait for the pipes to close before giving up on them. */
const GRACE_MS = 2000;
/** setTimeout's limit (about 24.8 days): a longer delay fires at once, so a huge timeout means this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RunResult {
  readonly ok: boolean;
  readonly message?: string;
  readonly timedOut?: boolean;
  readonly ms: number;
}

interface Captured {
  readonly name: 'stderr' | 'stdout';
  text(): string;
}

/** Read a stream to the end, keeping only its first OUTPUT_CAP bytes. */
function capture(stream: Readable, name: 'stderr' | 'stdout'): Captured {
  const kept: Buffer[] = [];
  let size = 0;
  let total = 0;
  stream.on('data', (chunk: Buffer) => {
    total += chunk.length;
    if (size < OUTPUT_CAP) {
      const part = chunk.subarray(0, OUTPUT_CAP - size);
      kept.push(part);
      size += part.length;
    }
  });
  stream.on('error', () => {}); // a destroyed pipe after a kill; what was read still counts
  return {
    name,
    text() {
      const text = Buffer.concat(kept).toString('utf8').trim();
      if (!text || total <= OUTPUT_CAP) return text;
      return `${text}\n[${name} truncated: first ${OUTPUT_CAP / 1024} KiB of ${total} bytes shown]`;
    },
  };
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the whole group is already gone
  }
}

/** Stripped stderr, else stripped stdout, after how it ended when that was not a plain exit. */
function describe(outputs: readonly Captured[], code: number | null, signal: string | null, timedOut: boolean, timeoutMs: number): string {
  const output = outputs.map((o) => o.text()).find((t) => t !== '');
  const end = timedOut ? `killed after ${timeoutMs / 1000} s (timeout)` : signal ? `killed by ${signal}` : `exited with code ${code}`;
  if (!output) return end;
  return timedOut || signal ? `${end}\n${output}` : output;
}

/**
 * Run one validator command with `content` on stdin. The child leads its own process group so a
 * timeout (or the validator's own exit) kills everything it started; the leftovers of a validator
 * that exited would otherwise hold its pipes open.
 */
export function runCommand(argv: readonly string[], content: Buffer, opts: { timeoutMs: number; cwd?: string; live: Set<number> }): Promise<RunResult> {
  return new Promise((resolve) => {
    const start = performance.now();
    const cannotRun = (e: Error): Omit<RunResult, 'ms'> => ({ ok: false, message: `cannot run ${argv[0]}: ${e.message}` });
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      // Node throws instead of emitting 'error' for an argv it refuses (a NUL byte in the #! line).
      resolve({ ...cannotRun(e as Error), ms: 0 });
      return;
    }
    const pid = child.pid;
    if (pid !== undefined) opts.live.add(pid);
    const outputs = [capture(child.stderr, 'stderr'), capture(child.stdout, 'stdout')];
    let exited = false;
    let code: number | null = null;
    let signal: string | null = null;
    let timedOut = false;
    let grace: NodeJS.Timeout | undefined;
    let settled = false;

    const finish = (result: Omit<RunResult, 'ms'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      if (pid !== undefined) opts.live.delete(pid);
      resolve({ ...result, ms: Math.round(performance.now() - start) });
    };
    const conclude = () => {
      if (!timedOut && !signal && code === 0) finish({ ok: true });
      else finish({ ok: false, message: describe(outputs, code, signal, timedOut, opts.timeoutMs), ...(timedOut ? { timedOut } : {}) });
    };

    const timer = setTimeout(() => {
      timedOut = !exited;
      killGroup(pid);
      // A straggler that left the group (setsid) could keep the pipes open forever.
      grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        conclude();
      }, GRACE_MS);
    }, Math.min(opts.timeoutMs, MAX_TIMER_MS));

    child.on('error', (e) => finish(cannotRun(e)));
    child.on('exit', (c, s) => {
      exited = true;
      code = c;
      signal = s;
      killGroup(pid);
    });
    child.on('close', conclude);
    // A validator may exit without reading its input: EPIPE is its business, the exit code decides.
    child.stdin.on('error', () => {});
    child.stdin.end(content);
  });
}
