import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { configFromIni, loadConfig, parseIni } from '../src/config/index.ts';
import { passphrases } from '../src/secrets/index.ts';
import { throwsBindery, tempDir, run, ROOT } from './helpers.ts';

/**
 * bcfg2.conf texts that trip up a hand-written INI reader. Each is read by python3's own
 * configparser (as Bcfg2 reads bcfg2.conf: ConfigParser(), read() of a file) and by bindery.
 */
const CORPUS: Record<string, string> = {
  'case-insensitive option names': '[cfg]\nValidation = no\nVALIDATION_timeout: 5\n',
  'colon and equals, first delimiter wins': '[a]\nx: 1 = 2\ny = a:b\nz=:\n',
  'default section inherited and overridden': '[DEFAULT]\nroot = /srv\nmode = 0600\n[server]\nrepository = %(root)s/bcfg2\n[mdata]\nmode = 0640\n',
  'interpolation chains and %%': '[encryption]\nbase = pa%%ss\nprod = %(base)s-%(Other)s\nother = 100%%\n',
  'continuation lines and blank lines inside values': '[server]\nignore_files = *~\n  *.bak\n\n\t.git\n\nnext = 1\n',
  'comments: # and ; on their own lines, also indented, also within a value': '# top\n; top\n[a]\n  # indented comment\nx = 1\n  ; not part of x\n  2\ny = value ; not an inline comment\nz = a # b\n',
  'spaces around names and values': '[ spaced ]\n  a   =   b c   \nd:e\n',
  'empty values': '[a]\nx =\ny:\nz = \n',
  'windows and old mac line ends': '[a]\r\nx = 1\r\ny = 2\r  cont\r\n',
  'section header with trailing text and brackets in the name': '[a] trailing\nx = 1\n[b]c]\ny = 2\n',
  'a later section repeats an option name of DEFAULT': '[DEFAULT]\nk = d\n[s]\nk = own\n[t]\nj = %(k)s\n',
  'an indented option after a section header starts a new option': '[a]\n  x = 1\n  y = 2\n',
  'an indented line deeper than the option continues it': '[a]\nx = 1\n  y = 2\n',
  'unicode values': '[a]\nx = é ü ✓\n',
  'duplicate section': '[a]\nx = 1\n[a]\ny = 2\n',
  'duplicate option, differing in case': '[a]\nx = 1\nX = 2\n',
  'option before any section': 'x = 1\n[a]\n',
  'line without a delimiter': '[a]\njust words\n',
  'option without a name': '[a]\n= value\n',
  'bad %: single percent': '[encryption]\nprod = 50%\n[other]\nok = 1\n',
  'missing interpolation name': '[a]\nx = %(nothere)s\n',
  'interpolation loop': '[a]\nx = %(y)s\ny = %(x)s\n',
  'bad reference syntax': '[a]\nx = %(open\n',
  'interpolation nested ten deep is fine': '[a]\n' + Array.from({ length: 9 }, (_, i) => `v${i} = %(v${i + 1})s`).join('\n') + '\nv9 = end\n',
  'DEFAULT alone': '[DEFAULT]\nx = 1\n',
  'two DEFAULT sections merge': '[DEFAULT]\nx = 1\n[DEFAULT]\ny = 2\n[s]\n',
  'tab-indented continuation after blank line keeps the blank': '[a]\nx = first\n\n\tsecond\n',
  'a value that is only a comment-like word': '[a]\nx = #notacomment\n',
};

const PYTHON = `
import configparser, json, sys
out = {}
for name, path in json.load(sys.stdin).items():
    cp = configparser.ConfigParser()
    try:
        cp.read(path, encoding='utf-8')
    except configparser.Error as e:
        out[name] = {'error': type(e).__name__, 'line': getattr(e, 'lineno', None)}
        continue
    sections = {}
    broken = []
    for s in cp.sections():
        sections[s] = {}
        for o in cp.options(s):
            try:
                sections[s][o] = cp.get(s, o)
            except configparser.Error as e:
                broken.append([s, o])
    out[name] = {'sections': sections, 'order': {s: cp.options(s) for s in cp.sections()}, 'broken': broken}
print(json.dumps(out))
`;

interface PyResult {
  error?: string;
  line?: number | null;
  sections?: Record<string, Record<string, string>>;
  order?: Record<string, string[]>;
  broken?: [string, string][];
}

function python(): Record<string, PyResult> {
  const t = tempDir('bindery-ini-');
  try {
    const paths: Record<string, string> = {};
    Object.entries(CORPUS).forEach(([name, text], i) => {
      paths[name] = join(t.dir, `${i}.conf`);
      writeFileSync(paths[name]!, text);
    });
    let out: string;
    try {
      out = execFileSync('python3', ['-c', PYTHON], { input: JSON.stringify(paths), encoding: 'utf8' });
    } catch (e) {
      throw new Error(`python3 is needed to check bcfg2.conf parsing against configparser (Debian package python3): ${(e as Error).message}`);
    }
    return JSON.parse(out) as Record<string, PyResult>;
  } finally {
    t.cleanup();
  }
}

const expected = python();

for (const [name, text] of Object.entries(CORPUS)) {
  test(`bcfg2.conf reads as python3's configparser reads it: ${name}`, () => {
    const py = expected[name]!;
    if (py.error) {
      const e = throwsBindery(() => parseIni(text, 'bcfg2.conf', { needed: () => false }));
      assert.is(e.code, 'CONFIG');
      assert.is(e.location.file, 'bcfg2.conf');
      if (py.line) assert.is(e.location.line, py.line, `${py.error} is reported at python's line`);
      return;
    }
    const ours = parseIni(text, 'bcfg2.conf', { needed: () => false });
    const expectedValues = structuredClone(py.sections!);
    for (const [s, o] of py.broken!) delete expectedValues[s]![o];
    assert.equal(ours, expectedValues);
    for (const [s, opts] of Object.entries(py.order!)) {
      assert.equal(Object.keys(ours[s]!), opts.filter((o) => !py.broken!.some(([bs, bo]) => bs === s && bo === o)), `option order of [${s}]`);
    }
    if (py.broken!.length > 0) {
      const e = throwsBindery(() => parseIni(text, 'bcfg2.conf'));
      assert.match(e.message, `[${py.broken![0]![0]}] ${py.broken![0]![1]}`);
      assert.ok(e.location.line, 'an interpolation error names the line');
    } else {
      assert.equal(parseIni(text, 'bcfg2.conf'), ours);
    }
  });
}

test('a passphrase written pa%%ss is pa%ss, and Validation = no turns validation off', () => {
  const c = configFromIni(parseIni('[encryption]\nProd = pa%%ss\n[cfg]\nValidation = no\n', 'bcfg2.conf'), 'bcfg2.conf');
  assert.equal(passphrases(c, {}), [{ name: 'prod', secret: 'pa%ss' }]);
  assert.is(c.cfg.validation, false);
});

test('a bad % in a section bindery does not read is ignored; in [encryption] it is an error naming the line', () => {
  const t = tempDir();
  try {
    const file = join(t.dir, 'bcfg2.conf');
    writeFileSync(file, '[database]\npassword = 50%off\n[encryption]\nprod = ok\n');
    assert.equal(loadConfig(file).encryption.passphrases, [{ name: 'prod', secret: 'ok' }]);
    writeFileSync(file, '[encryption]\nprod = 50%off\n');
    const e = throwsBindery(() => loadConfig(file));
    assert.equal([e.code, e.location.line], ['CONFIG', 2]);
    assert.match(e.message, '[encryption] prod');
    assert.not.match(e.message + (e.hint ?? ''), 'off', 'the secret is not quoted');
  } finally {
    t.cleanup();
  }
});

test('a boolean option that is not a boolean word is an error naming it', () => {
  const e = throwsBindery(() => configFromIni(parseIni('[cfg]\nvalidation = maybe\n', 'bcfg2.conf'), 'bcfg2.conf'));
  assert.match(e.message, '[cfg] validation = maybe');
});

test('--config naming a directory says so (exit 2)', async () => {
  const t = tempDir();
  try {
    mkdirSync(join(t.dir, 'conf'));
    const r = await run(process.execPath, [join(ROOT, 'bin', 'bindery.js'), 'validate', join(ROOT, 'sample-repo'), '--config', join(t.dir, 'conf')]);
    assert.is(r.code, 2);
    assert.match(r.stderr, 'is a directory');
  } finally {
    t.cleanup();
  }
});

test.run();
