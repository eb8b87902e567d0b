import { createRequire } from 'node:module';
import { styleText } from 'node:util';
import type cliProgressModule from 'cli-progress';
import { BinderyError, diagnosticMessage, type Diagnostic, type Message } from '../errors.js';
import { renderMessage, type Paint } from './render.js';

/** Loaded only when a bar is drawn (a TTY), so commands start without it. */
const loadProgress = () => createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule;

/**
 * Human output goes to stderr, machine output (--json) is exactly one JSON document on stdout
 * (on a fatal error too: `{"ok": false, "errors": [...]}`). Commands never write to the
 * streams directly.
 */
export interface Io {
  readonly json: boolean;
  /** A plain line of human output on stderr (suppressed with --json). */
  info(message: string): void;
  /** Human result text on stdout (e.g. `info buildfile` content); suppressed with --json, which prints result() instead. */
  out(text: string): void;
  /** A warning or error on stderr, with its code and a code frame. */
  report(m: Message): void;
  warn(d: Diagnostic): void;
  error(e: BinderyError): void;
  /** The machine-readable result of the command, printed once with --json (stable JSON: sorted keys). */
  result(value: unknown): void;
  /** Whether result() has printed the document already. */
  readonly resultWritten: boolean;
  progress(total: number, label: string): Progress;
}

export interface Progress {
  tick(n?: number): void;
  done(): void;
}

/**
 * Colour as the conventions say: FORCE_COLOR (not 0) forces it, NO_COLOR (non-empty) or
 * TERM=dumb turn it off, otherwise only on a TTY.
 */
function useColor(env: NodeJS.ProcessEnv, stream: { isTTY?: boolean }): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  if ((env.NO_COLOR ?? '') !== '' || env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

/** `stringify` prints the --json document (the emit stage's stable JSON: sorted keys). */
export function createIo(opts: { json: boolean; stringify: (value: unknown) => string; stdout?: NodeJS.WriteStream; stderr?: NodeJS.WriteStream; env?: NodeJS.ProcessEnv }): Io {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const color = useColor(opts.env ?? process.env, stderr);
  const paint: Paint = (style, s) => (color ? styleText(style, s, { validateStream: false }) : s);
  let written = false;
  const io: Io = {
    json: opts.json,
    info(message) {
      if (!opts.json) stderr.write(message + '\n');
    },
    out(text) {
      if (!opts.json) stdout.write(text);
    },
    report(m) {
      stderr.write(renderMessage(m, paint) + '\n');
    },
    warn(d) {
      io.report(diagnosticMessage(d));
    },
    error(e) {
      io.report(e.toMessage());
    },
    result(value) {
      if (opts.json && !written) stdout.write(opts.stringify(value));
      written = true;
    },
    get resultWritten() {
      return written;
    },
    progress(total, label) {
      if (opts.json || !stderr.isTTY || total < 2) return { tick() {}, done() {} };
      // Shown only once the work has taken a second: quick builds print just their summary line.
      const started = Date.now();
      let done = 0;
      let bar: InstanceType<typeof cliProgressModule.SingleBar> | null = null;
      const rate = () => done / Math.max((Date.now() - started) / 1000, 0.001);
      return {
        tick: (n = 1) => {
          done += n;
          if (!bar && Date.now() - started >= 1000) {
            const cliProgress = loadProgress();
            bar = new cliProgress.SingleBar(
              { format: `${label} [{bar}] {value}/{total}, {rate}/s, ETA {eta_formatted}`, stream: stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 200 },
              cliProgress.Presets.shades_classic,
            );
            bar.start(total, done, { rate: rate().toFixed(0) });
          } else bar?.update(done, { rate: rate().toFixed(0) });
        },
        done: () => bar?.stop(),
      };
    },
  };
  return io;
}
