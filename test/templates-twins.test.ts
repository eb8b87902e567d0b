import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileTemplate, migrateTemplate, type TemplateKind } from '../src/templates/index.ts';
import { loadMetadata } from '../src/metadata/index.ts';
import { BinderyError } from '../src/errors.ts';
import type { ClientMetadata } from '../src/types.ts';
import { FIXTURES, bindery, copyFixture } from './helpers.ts';

const REPO = join(FIXTURES, 'templates-twins');
const { clients } = loadMetadata(REPO);
const ENTRIES = ['Cfg/etc/motd', 'Cfg/etc/ganglia/gmond.conf', 'Cfg/etc/bcfg2.conf'];

type Outcome = { ok: true; text: string } | { ok: false; message: string; line?: number };

function outcome(kind: TemplateKind, source: string, file: string, m: ClientMetadata, repo = REPO): Outcome {
  const t = compileTemplate(kind, source, file, { repoRoot: repo });
  try {
    return { ok: true, text: t.render({ metadata: m, allClients: clients, name: '/' + file.split('/').slice(1, -1).join('/'), sourcePath: join(repo, file), repo }) };
  } catch (e) {
    assert.instance(e, BinderyError);
    return { ok: false, message: (e as BinderyError).message, line: (e as BinderyError).location.line };
  }
}

function twins(dir: string): { kind: TemplateKind; file: string; source: string }[] {
  return readdirSync(join(REPO, dir))
    .filter((f) => /\.(genshi|cheetah|liquid)$/.test(f))
    .map((f) => ({ kind: f.split('.').pop() as TemplateKind, file: `${dir}/${f}`, source: readFileSync(join(REPO, dir, f), 'utf8') }));
}

const strip = (o: Outcome) => (o.ok ? o : { ok: false, message: o.message });

test('the fixture has four clients and each entry has a .genshi, a .cheetah and a .liquid twin', () => {
  assert.equal(clients.map((c) => c.hostname), ['db1.example.com', 'mail1.example.com', 'web1.example.com', 'web2.example.com']);
  for (const dir of ENTRIES) assert.equal(twins(dir).map((t) => t.kind).sort(), ['cheetah', 'genshi', 'liquid']);
});

for (const dir of ENTRIES) {
  test(`${dir}: the Genshi, Cheetah and Liquid twins render the same for every client`, () => {
    for (const m of clients) {
      const [first, ...rest] = twins(dir).map((t) => ({ file: t.file, out: strip(outcome(t.kind, t.source, t.file, m)) }));
      for (const other of rest) assert.equal(other.out, first!.out, `${other.file} vs ${first!.file} for ${m.hostname}`);
    }
  });
}

test('motd twins: what web1 gets', () => {
  const web1 = clients.find((c) => c.hostname === 'web1.example.com')!;
  const t = twins('Cfg/etc/motd').find((x) => x.kind === 'genshi')!;
  assert.equal(outcome('genshi', t.source, t.file, web1), {
    ok: true,
    text: 'Welcome to web1.example.com\nProfile: web\nGroups:\n  - ganglia-gmond-web\n  - linux\n  - web\nOS family: Linux\nThis host has 3 groups and costs $0.\n',
  });
});

test('the ganglia TemplateError example (seed 003): a client without a ganglia-gmond- group fails the bind', () => {
  const g = twins('Cfg/etc/ganglia/gmond.conf');
  const db1 = clients.find((c) => c.hostname === 'db1.example.com')!;
  const mail1 = clients.find((c) => c.hostname === 'mail1.example.com')!;
  const genshi = g.find((t) => t.kind === 'genshi')!;
  assert.equal(outcome('genshi', genshi.source, genshi.file, db1), { ok: false, message: 'TemplateError: Missing group', line: 8 });
  assert.equal(outcome('genshi', genshi.source, genshi.file, mail1), { ok: true, text: 'cluster {\n  name = "mail"\n  owner = "mail1.example.com"\n}\n' });
  for (const t of g) assert.equal(strip(outcome(t.kind, t.source, t.file, db1)), { ok: false, message: 'TemplateError: Missing group' }, t.file);
});

test('the ganglia example exactly as extracted (raise inside the loop) fails even for ganglia clients', () => {
  const extracted = '{% python\n    from genshi.template import TemplateError\n    grp = None\n    for g in metadata.groups:\n        if g.startswith(\'ganglia-gmond-\'):\n            grp = g\n        raise TemplateError, "Missing group"\n%}\n';
  const mail1 = clients.find((c) => c.hostname === 'mail1.example.com')!;
  assert.equal(outcome('genshi', extracted, 'Cfg/etc/ganglia/gmond.conf/gmond.conf.genshi', mail1), { ok: false, message: 'TemplateError: Missing group', line: 7 });
});

// ---- migrate --------------------------------------------------------------------------------

for (const dir of ENTRIES) {
  for (const kind of ['genshi', 'cheetah'] as const) {
    test(`migrate ${dir} (${kind}): the Liquid it writes renders like the hand-written twin for every client`, () => {
      const t = twins(dir).find((x) => x.kind === kind)!;
      const m = migrateTemplate(kind, t.source, t.file, { repoRoot: REPO, clients });
      assert.is(m.file, t.file.replace(/\.(genshi|cheetah)$/, '.liquid'));
      assert.is(m.clients, 4);
      assert.equal(m.failing, dir.includes('ganglia') ? ['db1.example.com'] : []);
      const twin = twins(dir).find((x) => x.kind === 'liquid')!;
      for (const c of clients) assert.equal(strip(outcome('liquid', m.liquid, m.file, c)), strip(outcome('liquid', twin.source, twin.file, c)), c.hostname);
    });
  }
}

function refusal(kind: 'genshi' | 'cheetah', source: string): BinderyError {
  try {
    migrateTemplate(kind, source, `Cfg/etc/x/x.${kind}`, { repoRoot: REPO, clients });
  } catch (e) {
    assert.instance(e, BinderyError);
    return e as BinderyError;
  }
  throw new assert.Assertion({ message: 'expected a refusal', operator: 'throws', expects: 'error', actual: 'none' });
}

test('migrate refuses a construct Liquid cannot express, naming it and its line', () => {
  const e = refusal('genshi', 'a\n{% def f() %}x{% end %}${f()}');
  assert.is(e.code, 'TEMPLATE');
  assert.match(e.message, /^cannot migrate: \{% def f %\}/);
  assert.equal([e.location.file, e.location.line], ['Cfg/etc/x/x.genshi', 2]);
  const c = refusal('cheetah', '#echo ", ".join([g.upper() for g in $metadata.groups])\n');
  assert.match(c.message, /a comprehension has no Liquid translation/);
});

test('migrate follows the Cheetah rules: "# " lines are text, a lone # slurps, ${expr} and #repeat translate', () => {
  const web2 = clients.find((c) => c.hostname === 'web2.example.com')!;
  const src = '# managed by Bcfg2\n#PermitRootLogin no\njoined #\nhere\n#\n${len($metadata.groups) * 2} ${$metadata.hostname.upper()}\n#repeat 2\nr\n#end repeat\n';
  const m = migrateTemplate('cheetah', src, 'Cfg/etc/x/x.cheetah', { repoRoot: REPO, clients });
  assert.equal(outcome('liquid', m.liquid, m.file, web2), { ok: true, text: '# managed by Bcfg2\n#PermitRootLogin no\njoined here\n6 WEB2.EXAMPLE.COM\nr\nr\n' });
});

test('migrate refuses the new Cheetah constructs Liquid cannot express, naming each and its line', () => {
  for (const [src, what, line] of [
    ['x\n#def f\ny\n#end def\n$f\n', /#def f \/ #block f \(Liquid has no macros/, 2],
    ['#set $i = 0\n#while $i < 2\n#set $i += 1\n#end while\n', /#while \(Liquid has no while loop/, 2],
    ['#try\n$x\n#except\ny\n#end try\n', /#try\/#except/, 1],
    ['#include "part.txt"\n', /#include \(migrate the included file/, 1],
  ] as const) {
    const e = refusal('cheetah', src);
    assert.match(e.message, what);
    assert.is(e.location.line, line, src);
  }
});

test('migrate refuses when the translation would render differently for some client, naming the client', () => {
  // Cheetah prints a list as a Python list; Liquid cannot.
  const e = refusal('cheetah', 'groups: ${sorted($metadata.groups)}\n');
  assert.match(e.message, /^cannot migrate: for client db1\.example\.com output line 1 is "groups: \['bsd', 'db'\]" in the original and "groups: bsddb" in the Liquid/);
  assert.is(e.location.host, 'db1.example.com');
});

test('migrate refuses a repository without clients to compare on', () => {
  try {
    migrateTemplate('genshi', '$name', 'Cfg/etc/x/x.genshi', { repoRoot: REPO, clients: [] });
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /lists no clients/);
  }
});

test('migrate translates Python blocks, choose, loops with else, and % formatting', () => {
  const src = `{% python
    names = []
    for g in sorted(metadata.groups):
        if g == "linux":
            break
        names.append(g)
    else:
        names.append("no-linux")
    label = "%s (%d groups)" % (metadata.hostname, len(metadata.groups))
%}\\
$label: \${", ".join(names)}
{% choose %}\\
{% when not metadata.uuid %}no uuid{% end %}\\
{% otherwise %}uuid \${metadata.uuid.upper()}{% end %}\\
{% end %}
`;
  const m = migrateTemplate('genshi', src, 'Cfg/etc/x/x.genshi', { repoRoot: REPO, clients });
  assert.match(m.liquid, /\{% break %\}/);
  const db1 = clients.find((c) => c.hostname === 'db1.example.com')!;
  assert.equal(outcome('liquid', m.liquid, m.file, db1), { ok: true, text: 'db1.example.com (2 groups): bsd, db, no-linux\nuuid 0B3E-DB1\n' });
});

test('migrate keeps literal Liquid delimiters and dollars in the text as text', () => {
  const m = migrateTemplate('genshi', 'x = "{{ not liquid }}" \\{% raw %} cost $$5 on $metadata.hostname\n', 'Cfg/etc/x/x.genshi', { repoRoot: REPO, clients });
  const web2 = clients.find((c) => c.hostname === 'web2.example.com')!;
  assert.equal(outcome('liquid', m.liquid, m.file, web2), { ok: true, text: 'x = "{{ not liquid }}" {% raw %} cost $5 on web2.example.com\n' });
});

test('migrate: Liquid-looking text, and-values, and loop variables used after the loop', () => {
  const web2 = clients.find((c) => c.hostname === 'web2.example.com')!;
  for (const [kind, src, expected] of [
    // A '{' right before a tag must not open a tag of its own.
    ['genshi', '{${metadata.hostname}} {{% if True %}x{% end %}', '{web2.example.com} {x'],
    // a and b or c: the first false value, else the last.
    ['genshi', '${metadata.profile == "web" and "web host" or "other"} ${metadata.uuid and metadata.uuid.upper()}|', 'web host |'],
    // A nested or inside and is tested for Python truth, not Liquid's ("" is false).
    ['genshi', '{% if (metadata.uuid or "") and metadata.profile %}uuid{% end %}{% if (metadata.password or metadata.profile) and True %}ok{% end %}', 'ok'],
    // Python and Cheetah loop variables outlive the loop.
    ['genshi', '{% python\nfor g in sorted(metadata.groups):\n    if g.startswith("ganglia"):\n        break\n%}$g', 'ganglia-gmond-web'],
    ['cheetah', '#for $g in $metadata.groups\n#pass\n#end for\nlast: $g\n', 'last: web\n'],
  ] as const) {
    const m = migrateTemplate(kind, src, `Cfg/etc/x/x.${kind}`, { repoRoot: REPO, clients });
    assert.equal(outcome('liquid', m.liquid, m.file, web2), { ok: true, text: expected }, src);
  }
});

// ---- the CLI --------------------------------------------------------------------------------

test('bindery migrate writes the .liquid file beside the template and reports how many clients it checked', async () => {
  const repo = copyFixture('templates-twins');
  try {
    rmSync(join(repo.dir, 'Cfg/etc/bcfg2.conf/bcfg2.conf.liquid'));
    const r = await bindery(['migrate', join(repo.dir, 'Cfg/etc/bcfg2.conf/bcfg2.conf.cheetah'), '--json']);
    assert.is(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout), { ok: true, source: 'Cfg/etc/bcfg2.conf/bcfg2.conf.cheetah', written: 'Cfg/etc/bcfg2.conf/bcfg2.conf.liquid', clients: 4, failing: [] });
    const written = readFileSync(join(repo.dir, 'Cfg/etc/bcfg2.conf/bcfg2.conf.liquid'), 'utf8');
    const web1 = clients.find((c) => c.hostname === 'web1.example.com')!;
    assert.equal(outcome('liquid', written, 'Cfg/etc/bcfg2.conf/bcfg2.conf.liquid', web1, repo.dir), {
      ok: true,
      text: '[communication]\nprotocol = xmlrpc/ssl\nuser = 6f1c6d8e-web1\npassword = web1-secret\n\n[components]\nbcfg2 = https://localhost:6789\n',
    });

    const again = await bindery(['migrate', join(repo.dir, 'Cfg/etc/bcfg2.conf/bcfg2.conf.cheetah')]);
    assert.is(again.code, 2);
    assert.match(again.stderr, /bcfg2\.conf\.liquid already exists/);
    assert.match(again.stderr, /--force/);
  } finally {
    repo.cleanup();
  }
});

test('a .jinja2 file is reported as not supported, use .liquid, naming the file', async () => {
  const repo = copyFixture('templates-twins');
  try {
    writeFileSync(join(repo.dir, 'Cfg/etc/motd/motd.G50_web.jinja2'), '{{ x }}\n');
    const r = await bindery(['validate', repo.dir, '--json']);
    const doc = JSON.parse(r.stdout);
    const all = [...(doc.warnings ?? []), ...(doc.errors ?? [])];
    const w = all.find((m: { code: string }) => m.code === 'unsupported-template');
    assert.ok(w, r.stdout);
    assert.is(w.location.file, 'Cfg/etc/motd/motd.G50_web.jinja2');
    assert.match(w.text, /^Jinja2 templates are not supported, use \.liquid: rewrite this file in Liquid as motd\.G50_web\.liquid/);
  } finally {
    repo.cleanup();
  }
});

test('bindery migrate exits 1 naming the construct when it cannot translate, and writes nothing', async () => {
  const repo = copyFixture('templates-twins');
  try {
    writeFileSync(join(repo.dir, 'Cfg/etc/motd/motd.G50_web.genshi'), 'x\n{% def f() %}y{% end %}${f()}\n');
    const r = await bindery(['migrate', join(repo.dir, 'Cfg/etc/motd/motd.G50_web.genshi')]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /Cfg\/etc\/motd\/motd\.G50_web\.genshi:2:1: cannot migrate: \{% def f %\}/);
    assert.not.ok(existsSync(join(repo.dir, 'Cfg/etc/motd/motd.G50_web.liquid')));
    const usage = await bindery(['migrate', join(repo.dir, 'Metadata/clients.xml')]);
    assert.is(usage.code, 2);
    assert.match(usage.stderr, /not a Genshi or Cheetah template/);
  } finally {
    repo.cleanup();
  }
});

test.run();
