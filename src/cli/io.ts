import { styleText } from 'node:util';
import cliProgress from 'cli-progress';
import { BinderyError, diagnosticMessage, type Diagnostic, type Message } from '../errors.js';
import { stableStringify } from '../emit/index.js';
import { renderMessage, type Paint } from './render.js';

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

export function createIo(opts: { json: boolean; stdout?: NodeJS.WriteStream; stderr?: NodeJS.WriteStream; env?: NodeJS.ProcessEnv }): Io {
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
      if (opts.json && !written) stdout.write(stableStringify(value));
      written = true;
    },
    get resultWritten() {
      return written;
    },
    progress(total, label) {
      if (opts.json || !stderr.isTTY || total < 2) return { tick() {}, done() {} };
      const bar = new cliProgress.SingleBar(
        { format: `${label} [{bar}] {value}/{total}`, stream: stderr, hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0);
      return {
        tick: (n = 1) => bar.increment(n),
        done: () => bar.stop(),
      };
    },
  };
  return io;
}
