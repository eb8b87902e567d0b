/**
 * Cheetah conformance: every case of test/fixtures/cheetah/cases.txt (constructs real
 * repositories and Cheetah's own SyntaxAndOutput suite exercise, in our own words) rendered by
 * bindery and compared with what real Cheetah 3 renders. expected.json holds real Cheetah's
 * outputs (scripts/cheetah-reference.py writes it); one test re-renders them with Debian's
 * python3-cheetah so the fixture cannot drift from the engine.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { compileTemplate } from '../src/templates/index.ts';
import { BinderyError } from '../src/errors.ts';
import type { ClientMetadata } from '../src/types.ts';

const DIR = resolve('test/fixtures/cheetah');
const REPO = join(DIR, 'repo');
const FILE = 'Cfg/etc/motd/motd.cheetah';

interface Outcome {
  readonly ok: boolean;
  readonly out?: string;
  readonly err?: string;
}

/** Blocks headed by "=== name"; a case's text is its lines, each ending in a newline. */
function readCases(): [string, string][] {
  const cases: [string, string][] = [];
  let name: string | null = null;
  let lines: string[] = [];
  for (const line of readFileSync(join(DIR, 'cases.txt'), 'utf8').split('\n').slice(0, -1)) {
    if (line.startsWith('=== ')) {
      if (name !== null) cases.push([name, lines.join('\n') + '\n']);
      name = line.slice(4).trim();
      lines = [];
    } else lines.push(line);
  }
  if (name !== null) cases.push([name, lines.join('\n') + '\n']);
  return cases;
}

const cases = readCases();
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as Record<string, Outcome>;
const client: ClientMetadata = { hostname: 'web1.example.com', profile: null, groups: [], bundles: [], aliases: [], addresses: [], categories: {}, uuid: null, password: null, version: null } as unknown as ClientMetadata;

function bindery(source: string): Outcome & { error?: BinderyError } {
  try {
    const tpl = compileTemplate('cheetah', source, FILE, { repoRoot: REPO });
    return { ok: true, out: tpl.render({ metadata: client, allClients: [client], name: '/etc/motd', sourcePath: join(REPO, FILE), repo: REPO }) };
  } catch (e) {
    if (!(e instanceof BinderyError)) throw e;
    return { ok: false, err: e.message, error: e };
  }
}

/** identical: same text, or both fail; refused: bindery names a construct it does not evaluate; else wrong. */
function classify(name: string, source: string): { kind: 'identical' | 'refused' | 'wrong'; got: ReturnType<typeof bindery>; want: Outcome } {
  const want = expected[name]!;
  const got = bindery(source);
  if (got.ok === want.ok && (!want.ok || got.out === want.out)) return { kind: 'identical', got, want };
  if (!got.ok && /is outside the subset bindery evaluates/.test(got.err!)) return { kind: 'refused', got, want };
  return { kind: 'wrong', got, want };
}

/** What bindery refuses by design: imports, compiler settings, class attributes, Python filter and error-catcher classes. */
const REFUSED = ['attr refused', 'compiler directive refused', 'compiler settings refused', 'errorCatcher refused', 'filter refused', 'implements refused', 'import from refused', 'import refused'];

test('every case has real Cheetah output in expected.json', () => {
  assert.equal(Object.keys(expected).sort(), cases.map(([n]) => n).sort());
});

test('bindery renders every case as Cheetah does, or refuses it naming the construct, file and line', () => {
  const counts = { identical: 0, refused: 0, wrong: 0 };
  const wrong: string[] = [];
  const refused: string[] = [];
  for (const [name, source] of cases) {
    const r = classify(name, source);
    counts[r.kind]++;
    if (r.kind === 'wrong') wrong.push(`${name}: Cheetah ${JSON.stringify(r.want)}, bindery ${JSON.stringify(r.got.ok ? r.got : r.got.err)}`);
    if (r.kind === 'refused') {
      refused.push(name);
      assert.is(r.got.error!.location?.file, FILE);
      assert.ok((r.got.error!.location?.line ?? 0) >= 1, name);
      assert.match(r.got.err!, /#[a-z-]+/, name);
    }
  }
  console.log(`Cheetah conformance: of ${cases.length} cases, ${counts.identical} identical, ${counts.refused} refused, ${counts.wrong} wrong`);
  assert.equal(wrong, []);
  assert.equal(refused.sort(), REFUSED);
});

test('a failure Cheetah also has is a bind failure in bindery, with file and line', () => {
  for (const [name, source] of cases) {
    if (expected[name]!.ok) continue;
    const got = bindery(source);
    assert.not.ok(got.ok, name);
    // The template's own file, or the file it includes.
    assert.match(got.error!.location?.file ?? '', /^Cfg\/etc\/motd\/(motd\.cheetah|raw\.txt)$/, name);
    assert.ok((got.error!.location?.line ?? 0) >= 1, name);
  }
});

/** A python3 that has Cheetah: Debian's (/usr/bin/python3) first, as a pyenv python3 lacks Debian's modules. */
function cheetahPython(): string {
  for (const py of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(py, ['-c', 'import Cheetah'], { stdio: 'ignore' }).status === 0) return py;
  }
  throw new Error('real Cheetah is needed to check the fixture: install the Debian package python3-cheetah');
}

test('expected.json is what real Cheetah (python3-cheetah) renders today', () => {
  const r = spawnSync(cheetahPython(), ['scripts/cheetah-reference.py', join(DIR, 'cases.txt'), join(REPO, 'Cfg/etc/motd'), REPO], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), expected);
});

test.run();
