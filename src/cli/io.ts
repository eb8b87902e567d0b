import { styleText } from 'node:util';
import cliProgress from 'cli-progress';
import { BinderyError, formatError, formatLocation, type Diagnostic } from '../errors.js';
import { stableStringify } from '../emit/index.js';

/**
 * Human output goes to stderr (with colour only on a TTY without NO_COLOR), machine
 * output (--json) is one JSON document on stdout. Commands never write to the streams directly.
 */
export interface Io {
  readonly json: boolean;
  /** A plain line of human output on stderr (suppressed with --json). */
  info(message: string): void;
  /** Human result text on stdout (e.g. `info buildfile` content); --json prints result() instead. */
  out(text: string): void;
  warn(d: Diagnostic): void;
  error(e: BinderyError): void;
  /** The machine-readable result of the command, printed once with --json (stable JSON: sorted keys). */
  result(value: unknown): void;
  progress(total: number, label: string): Progress;
}

export interface Progress {
  tick(n?: number): void;
  done(): void;
}

type Style = Parameters<typeof styleText>[0];

export function createIo(opts: { json: boolean; stdout?: NodeJS.WriteStream; stderr?: NodeJS.WriteStream }): Io {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const noColor = (process.env.NO_COLOR ?? '') !== '' || process.env.TERM === 'dumb' || !stderr.isTTY;
  const paint = (style: Style, s: string) => (noColor ? s : styleText(style, s, { validateStream: false }));
  return {
    json: opts.json,
    info(message) {
      if (!opts.json) stderr.write(message + '\n');
    },
    out(text) {
      stdout.write(text);
    },
    warn(d) {
      const where = formatLocation(d);
      stderr.write(`${paint('yellow', 'warning')}: ${where ? where + ': ' : ''}${d.message}\n`);
    },
    error(e) {
      stderr.write(`${paint('red', 'error')}: ${formatError(e)}\n`);
    },
    result(value) {
      if (opts.json) stdout.write(stableStringify(value));
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
}
