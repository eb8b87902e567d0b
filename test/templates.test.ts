import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { compileTemplate, type TemplateKind } from '../src/templates/index.ts';
import { BinderyError } from '../src/errors.ts';
import type { ClientMetadata } from '../src/types.ts';
import { tempDir } from './helpers.ts';

const web1: ClientMetadata = {
  hostname: 'web1.example.com',
  profile: 'web',
  groups: ['ganglia-gmond-web', 'linux', 'web'],
  bundles: ['base', 'httpd'],
  categories: { os: 'linux' },
  aliases: ['www.example.com'],
  addresses: ['10.0.0.1'],
  uuid: null,
  password: 'web1-secret',
  version: '1.3.6',
};
const db1: ClientMetadata = { ...web1, hostname: 'db1.example.com', profile: 'db', groups: ['bsd', 'db'], categories: { os: 'bsd' }, uuid: 'u-db1', password: null };
const CLIENTS = [db1, web1];

const repo = tempDir('bindery-templates-');
const ROOT = repo.dir;

function render(kind: TemplateKind, source: string, opts: { metadata?: ClientMetadata; file?: string } = {}): string {
  const file = opts.file ?? `Cfg/etc/motd/motd.${kind}`;
  return compileTemplate(kind, source, file, { repoRoot: ROOT }).render({
    metadata: opts.metadata ?? web1,
    allClients: CLIENTS,
    name: '/etc/motd',
    sourcePath: join(ROOT, file),
    repo: ROOT,
  });
}

const genshi = (src: string, m?: ClientMetadata) => render('genshi', src, { metadata: m });
const cheetah = (src: string, m?: ClientMetadata) => render('cheetah', src, { metadata: m });
const liquid = (src: string, m?: ClientMetadata) => render('liquid', src, { metadata: m });
const py = (expr: string) => genshi('${' + expr + '}');

function failure(f: () => unknown): BinderyError {
  try {
    f();
  } catch (e) {
    assert.instance(e, BinderyError);
    return e as BinderyError;
  }
  throw new assert.Assertion({ message: 'expected a BinderyError', operator: 'throws', expects: 'error', actual: 'no error' });
}

// ---- Genshi: Bcfg2 -------------------------------------------------------------------

test('Genshi keeps every newline, including those after %}', () => {
  assert.is(genshi('{% if True %}\nyes\n{% end %}\n'), '\nyes\n\n');
});

test('Genshi: a backslash before a newline deletes it', () => {
  assert.is(genshi('{% if True %}\\\nyes\n{% end %}\\\n'), 'yes\n');
  assert.is(genshi('a\\\r\nb'), 'ab');
});

test('Genshi: \\\\ is one backslash and \\{% \\{# are literal delimiters', () => {
  assert.is(genshi('a\\\\b \\{% if %} \\{# x #}'), 'a\\b {% if %} {# x #}');
});

test('Genshi: {# comments #} are dropped', () => {
  assert.is(genshi('a{# one\ntwo #}b'), 'ab');
});

test('Genshi: $name and $a.b.c interpolate; $$ is a dollar; a lone $ is literal', () => {
  assert.is(genshi('$name on $metadata.hostname'), '/etc/motd on web1.example.com');
  assert.is(genshi('$$Id$$ costs $5 and $'), '$Id$ costs $5 and $');
  assert.is(genshi('${metadata.hostname}x'), 'web1.example.comx');
});

test('Genshi: $name followed by a dot is a syntax error that suggests ${name}', () => {
  const e = failure(() => genshi('Hello $name.'));
  assert.match(e.message, /ends with a dot/);
  assert.match(e.message, /\$\{name\}\./);
});

test('Genshi: None prints nothing, numbers and bools print as Python, iterables run together', () => {
  assert.is(py('None'), '');
  assert.is(py('[1, 2]'), '12');
  assert.is(py('metadata.groups'), 'ganglia-gmond-weblinuxweb');
  assert.is(py('True') + py('1.0') + py('7'), 'True1.07');
  assert.is(py('[None, "a"]'), 'Nonea');
  assert.is(py('{"k": 1}'), 'k');
});

test('Genshi: {% for %} iterates with unpacking, and each iteration is its own frame', () => {
  assert.is(genshi('{% for i, g in enumerate(metadata.groups) %}$i=$g;{% end %}'), '0=ganglia-gmond-web;1=linux;2=web;');
  const e = failure(() => genshi('{% for g in metadata.groups %}{% end %}$g'));
  assert.match(e.message, /undefined variable "g"/);
});

test('Genshi: {% choose %} picks the first matching {% when %}, else {% otherwise %}', () => {
  const t = '{% choose metadata.categories.os %}{% when "bsd" %}B{% end %}{% when "linux" %}L{% end %}{% otherwise %}O{% end %}{% end %}';
  assert.is(genshi(t), 'L');
  assert.is(genshi(t, db1), 'B');
  const tests = '{% choose %}{% when metadata.inGroup("db") %}db{% end %}{% when True %}any{% end %}{% otherwise %}none{% end %}{% end %}';
  assert.is(genshi(tests), 'any');
  assert.is(genshi(tests, db1), 'db');
});

test('Genshi: text inside {% choose %} but outside its branches is kept', () => {
  assert.is(genshi('{% choose %}[{% when False %}x{% end %}|{% otherwise %}y{% end %}]{% end %}'), '[|y]');
});

test('Genshi: {% with %} binds names for its body only', () => {
  assert.is(genshi('{% with a = 1; b = a + 1 %}${a + b}{% end %}'), '3');
  assert.match(failure(() => genshi('{% with a = 1 %}{% end %}$a')).message, /undefined variable "a"/);
});

test('Genshi: {% def %} makes a function that renders its body, seeing the caller\'s variables', () => {
  assert.is(genshi('{% def item(x, mark="-") %}$mark $x $g\n{% end %}{% for g in ["a", "b"] %}${item(g.upper())}{% end %}'), '- A a\n- B b\n');
  assert.is(genshi('{% def hello(who="world") %}hello $who{% end %}${hello()}, ${hello(who="you")}'), 'hello world, hello you');
});

test('Genshi: {% python %} blocks are dedented like Genshi does, and their assignments become variables', () => {
  const t = '{% python\n    from genshi.template import TemplateError\n    total = 0\n    for g in metadata.groups:\n        if g != "web":\n            total += len(g)\n%}\\\n$total';
  assert.is(genshi(t), String('ganglia-gmond-web'.length + 'linux'.length));
  assert.is(genshi('{% python x = 1; y = x * 2 %}$x$y'), '12');
  assert.is(genshi('{% python if True:\n  z = "yes" %}$z'), 'yes');
});

test('Genshi: functions, for/else, break and del work inside {% python %}', () => {
  const t = `{% python
    def first(prefix):
        for g in sorted(metadata.groups):
            if g.startswith(prefix):
                return g
        return None
    found = []
    for g in metadata.groups:
        if g == "linux":
            break
    else:
        found.append("no linux")
    d = {"a": 1, "b": 2}
    del d["a"]
%}\${first("li")}|\${first("zz")}|\${found}|\${sorted(d.keys())}`;
  assert.is(genshi(t), 'linux|||b');
  assert.is(genshi(t, db1), '||no linux|b');
});

test('Genshi: defined() and value_of() test for names under strict lookup', () => {
  assert.is(genshi('${defined("name")} ${defined("nope")} ${value_of("nope", "dflt")} ${value_of("name")}'), 'True False dflt /etc/motd');
});

test('Genshi: path is the template\'s own path', () => {
  assert.is(genshi('$path|$source_path|$repo'), `${ROOT}/Cfg/etc/motd/motd.genshi|${ROOT}/Cfg/etc/motd/motd.genshi|${ROOT}`);
});

test('Genshi: a template that raises TemplateError fails with its message, both raise spellings', () => {
  for (const raise of ['raise TemplateError, "Missing group"', 'raise TemplateError("Missing group")']) {
    const e = failure(() => genshi(`x\n{% python\n    from genshi.template import TemplateError\n    if not metadata.inGroup("mail"):\n        ${raise}\n%}`));
    assert.is(e.code, 'TEMPLATE');
    assert.is(e.message, 'TemplateError: Missing group');
    assert.equal([e.location.file, e.location.line], ['Cfg/etc/motd/motd.genshi', 5]);
  }
});

test('Genshi: undefined names and attributes fail with file, line and column (strict lookup)', () => {
  let e = failure(() => genshi('line one\n  ${nosuch + 1}'));
  assert.is(e.code, 'TEMPLATE');
  assert.is(e.message, 'NameError: undefined variable "nosuch"');
  assert.equal(e.location, { file: 'Cfg/etc/motd/motd.genshi', line: 2, column: 5 });
  e = failure(() => genshi('\n\n$metadata.nosuch'));
  assert.match(e.message, /ClientMetadata value has no attribute "nosuch"/);
  assert.is(e.location.line, 3);
});

test('Genshi: a.b falls back to a["b"] and a["b"] to a.b, as Genshi\'s lookup does', () => {
  assert.is(genshi('$metadata.categories.os ${metadata["hostname"]}'), 'linux web1.example.com');
});

test('Genshi: syntax errors surface at compile time with their line', () => {
  const compile = (src: string) => compileTemplate('genshi', src, 'Cfg/x/x.genshi', { repoRoot: ROOT });
  let e = failure(() => compile('a\n{% if x %}b'));
  assert.match(e.message, /\{% if %\} is never closed by \{% end %\}/);
  assert.is(e.location.line, 2);
  e = failure(() => compile('a\n\n{% end %}'));
  assert.match(e.message, /without an open directive/);
  assert.is(e.location.line, 3);
  e = failure(() => compile('${1 +}'));
  assert.match(e.message, /^syntax error: invalid syntax/);
  e = failure(() => compile('{% frobnicate %}'));
  assert.match(e.message, /unknown Genshi directive \{% frobnicate %\}/);
  e = failure(() => compile('{% if a %}{% else %}{% end %}'));
  assert.match(e.message, /\{% else %\}/);
  assert.match(e.hint ?? '', /\.liquid/);
});

test('Genshi: constructs outside the subset are named, with a hint to use .liquid', () => {
  const compile = (src: string) => compileTemplate('genshi', src, 'Cfg/etc/x/x.G50_web.genshi', { repoRoot: ROOT });
  for (const [src, construct] of [
    ['{% python\nwhile True:\n    pass\n%}', 'a while loop'],
    ['{% python import os %}', 'import os'],
    ['{% python\ntry:\n    x = 1\nexcept:\n    pass\n%}', 'try/except'],
    ['{% python class A: pass %}', 'a class definition'],
    ['{% python from os import path %}', 'from os import path'],
  ] as const) {
    const e = failure(() => compile(src));
    assert.is(e.code, 'TEMPLATE');
    assert.ok(e.message.includes(construct), e.message);
    assert.match(e.message, /outside the subset/);
    assert.match(e.hint ?? '', /x\.G50_web\.liquid/);
    assert.is(e.location.file, 'Cfg/etc/x/x.G50_web.genshi');
  }
});

// ---- Genshi includes ----------------------------------------------------------------------

mkdirSync(join(ROOT, 'Cfg/etc/inc'), { recursive: true });
writeFileSync(join(ROOT, 'Cfg/etc/inc/header.genshi_include'), '# host ${metadata.hostname}\n');
writeFileSync(join(ROOT, 'Cfg/etc/inc/web.genshi_include'), 'web part\n');
writeFileSync(join(ROOT, 'Cfg/etc/inc/broken.genshi_include'), 'ok\n${nosuch}\n');
mkdirSync(join(ROOT, 'Templates'), { recursive: true });
writeFileSync(join(ROOT, 'Templates/common.genshi_include'), 'common\n');
const outsideDir = tempDir('bindery-outside-');
const outside = join(outsideDir.dir, 'secret.txt');
writeFileSync(outside, 'secret\n');
const escapeUp = `../../../../${basename(outsideDir.dir)}/secret.txt`;
symlinkSync(outside, join(ROOT, 'Cfg/etc/inc/escape.genshi_include'));

const inc = (src: string) => render('genshi', src, { file: 'Cfg/etc/inc/inc.genshi' });

test('Genshi: {% include %} reads a file relative to the including template, with the same variables', () => {
  assert.is(inc('{% include header.genshi_include %}body\n'), '# host web1.example.com\nbody\n');
  assert.is(inc('{% with part = "web" %}{% include ${part}.genshi_include %}{% end %}'), 'web part\n');
  assert.is(inc('{% include ../../../Templates/common.genshi_include %}'), 'common\n');
});

test('Genshi: an error inside an included file names that file', () => {
  const e = failure(() => inc('{% include broken.genshi_include %}'));
  assert.is(e.location.file, 'Cfg/etc/inc/broken.genshi_include');
  assert.is(e.location.line, 2);
});

test('Genshi: includes never leave the repository (.., absolute paths, symlinks)', () => {
  assert.match(failure(() => inc(`{% include ${escapeUp} %}`)).message, /outside the repository/);
  assert.match(failure(() => inc(`{% include ${outside} %}`)).message, /absolute include paths are not supported/);
  assert.match(failure(() => inc('{% include escape.genshi_include %}')).message, /outside the repository/);
  const e = failure(() => inc('\n{% include missing.genshi_include %}'));
  assert.match(e.message, /no such file/);
  assert.equal([e.location.file, e.location.line], ['Cfg/etc/inc/inc.genshi', 2]);
});

const cinc = (src: string) => render('cheetah', src, { file: 'Cfg/etc/inc/inc.cheetah' });

test('Cheetah: #include reads a file beside the template (parsed, or raw), and source= text; locals stay behind, globals go in', () => {
  writeFileSync(join(ROOT, 'Cfg/etc/inc/part.cheetah_include'), 'part for $metadata.hostname #slurp\n');
  assert.is(cinc('#include "part.cheetah_include"\n!'), 'part for web1.example.com !');
  assert.is(cinc('#include raw "part.cheetah_include"\n'), 'part for $metadata.hostname #slurp\n');
  assert.is(cinc("#set global $g = 'G'\n#include source='[$g]'\n"), '[G]');
  assert.match(failure(() => cinc("#set $l = 'L'\n#include source='[$l]'\n")).message, /undefined variable "l"/);
});

test('Cheetah: #include never leaves the repository (.., absolute paths, symlinks) and cannot include itself forever', () => {
  assert.match(failure(() => cinc(`#include "${escapeUp}"\n`)).message, /outside the repository/);
  assert.match(failure(() => cinc(`#include raw "${outside}"\n`)).message, /absolute include paths are not supported/);
  assert.match(failure(() => cinc('#include raw "escape.genshi_include"\n')).message, /outside the repository/);
  writeFileSync(join(ROOT, 'Cfg/etc/inc/loop.cheetah_include'), '#include "loop.cheetah_include"\n');
  assert.match(failure(() => cinc('#include "loop.cheetah_include"\n')).message, /includes nest more than 20 deep/);
  assert.match(failure(() => cinc("#set global $s = '#include source=$s'\n#include source=$s\n")).message, /includes nest more than 20 deep/);
});

// ---- Cheetah: Bcfg2, decision 7 (docs/decisions.md) ----------------------------------------------------

test('Cheetah: the bcfg2.conf template of the authentication docs (seed 000)', () => {
  const t = [
    '[communication]',
    'protocol = xmlrpc/ssl',
    '#if $self.metadata.uuid != None',
    'user = $self.metadata.uuid',
    '#end if',
    '#if $self.metadata.password != None',
    'password = $self.metadata.password',
    '#else',
    'password = my-password-foobat',
    '#end if',
    '',
    '[components]',
    'bcfg2 = https://localhost:6789',
    '',
  ].join('\n');
  assert.is(cheetah(t), '[communication]\nprotocol = xmlrpc/ssl\npassword = web1-secret\n\n[components]\nbcfg2 = https://localhost:6789\n');
  assert.is(cheetah(t, db1), '[communication]\nprotocol = xmlrpc/ssl\nuser = u-db1\npassword = my-password-foobat\n\n[components]\nbcfg2 = https://localhost:6789\n');
});

test('Cheetah: the seed 000 template exactly as extracted (its #else was lost) prints both password lines', () => {
  const seed = '#if $self.metadata.uuid != None\nuser = $self.metadata.uuid\n#end if\n#if $self.metadata.password != None\npassword = $self.metadata.password\npassword = my-password-foobat\n#end if\n\nbcfg2 = https://localhost:6789\n';
  assert.is(cheetah(seed), 'password = web1-secret\npassword = my-password-foobat\n\nbcfg2 = https://localhost:6789\n');
  assert.is(cheetah(seed, db1), 'user = u-db1\n\nbcfg2 = https://localhost:6789\n');
});

test('Cheetah: $var, ${var}, $self.var, and dotted or subscripted dictionary access', () => {
  assert.is(cheetah('$name ${name} $self.name $path $metadata.categories.os $metadata.categories["os"]'), '/etc/motd /etc/motd /etc/motd /etc/motd linux linux');
});

test('Cheetah: placeholders autocall methods, and None prints as nothing', () => {
  assert.is(cheetah('$metadata.hostname.upper|$metadata.uuid|$metadata.inGroup("web")'), 'WEB1.EXAMPLE.COM||True');
});

test('Cheetah: values print with str(), lists as Python lists', () => {
  assert.is(cheetah('${sorted($metadata.groups)} $metadata.profile\n#echo 1.5 * 2\n'), "['ganglia-gmond-web', 'linux', 'web'] web\n3.0");
});

test('Cheetah: a directive alone on its line takes the line with it', () => {
  assert.is(cheetah('a\n  #if True\n  b\n  #end if\nc\n'), 'a\n  b\nc\n');
  assert.is(cheetah('#for $g in $metadata.groups\n- $g\n#end for\n'), '- ganglia-gmond-web\n- linux\n- web\n');
});

test('Cheetah: #if/#elif/#else, #unless, and directives closed inline by #', () => {
  const t = '#if $metadata.inGroup("db")\ndb\n#elif $metadata.inGroup("web")\nweb\n#else\nother\n#end if\n';
  assert.is(cheetah(t), 'web\n');
  assert.is(cheetah(t, db1), 'db\n');
  assert.is(cheetah('x #if $metadata.uuid#has uuid#else#no uuid#end if# y'), 'x no uuid y');
  assert.is(cheetah('#unless $metadata.uuid\nno uuid\n#end unless\n'), 'no uuid\n');
});

test('Cheetah: #set and #silent, with loop variables as template locals', () => {
  assert.is(cheetah('#set $n = len($metadata.groups)\n#set global $names = []\n#for $g in $metadata.groups\n#silent $names.append($g[0])\n#end for\n$n $g\n#echo "".join($names)\n'), '3 web\nglw');
});

test('Cheetah: #slurp eats the newline', () => {
  assert.is(cheetah('#for $g in $metadata.groups\n$g,#slurp\n#end for\n!'), 'ganglia-gmond-web,linux,web,!');
});

test('Cheetah: #raw keeps its content as it is', () => {
  assert.is(cheetah('#raw\n$notavar #if x\n#end raw\nafter\n'), '$notavar #if x\nafter\n');
});

test('Cheetah comments: ## and #* *# are removed, a "# " line is text as Cheetah prints it (decision 7 (docs/decisions.md))', () => {
  assert.is(cheetah('## whole line\na ## tail\n#* block\ncomment *#\nb #* inline *# c\n# This is a comment in my template\n\\# This comment will appear\n'), 'a \nb  c\n# This is a comment in my template\n# This comment will appear\n');
});

test('Cheetah: other # lines are literal (shebangs, commented-out settings, #include-like words); a lone # line vanishes', () => {
  assert.is(cheetah('#!/bin/sh\n#PermitRootLogin no\n#includedir /etc/sudoers.d\n#\nx # y\n'), '#!/bin/sh\n#PermitRootLogin no\n#includedir /etc/sudoers.d\nx # y\n');
});

test('Cheetah: \\$ and \\# escape, $$ stays $$, and $ before a non-name is literal', () => {
  assert.is(cheetah('\\$name \\#if $$ $5 100$'), '$name #if $$ $5 100$');
});

test('Cheetah: $!name is silent when the name is undefined', () => {
  assert.is(cheetah('[$!nosuch]'), '[]');
});

test('Cheetah: undefined placeholders fail with line and column', () => {
  const e = failure(() => cheetah('ok\nvalue: $nosuch'));
  assert.is(e.message, 'NameError: undefined variable "nosuch"');
  assert.equal(e.location, { file: 'Cfg/etc/motd/motd.cheetah', line: 2, column: 9 });
});

test('Cheetah: #raise fails the bind with its message', () => {
  const e = failure(() => cheetah('#if not $metadata.inGroup("mail")\n#raise TemplateError("not a mail host")\n#end if\n'));
  assert.is(e.message, 'TemplateError: not a mail host');
  assert.is(e.location.line, 2);
});

test('Cheetah: refused directives and unbalanced blocks are compile errors naming the construct, file and line', () => {
  const compile = (src: string) => compileTemplate('cheetah', src, 'Cfg/etc/x/x.cheetah', { repoRoot: ROOT });
  let e = failure(() => compile('a\n#import os\n'));
  assert.match(e.message, /the Cheetah directive #import \(it imports Python code\) is outside the subset/);
  assert.equal(e.location, { file: 'Cfg/etc/x/x.cheetah', line: 2, column: 1 });
  assert.match(e.hint ?? '', /x\.liquid/);
  for (const [src, construct] of [['#extends Base\n', '#extends'], ['x\n\n#compiler-settings\n#end compiler-settings\n', '#compiler-settings'], ['#filter WebSafe\n', '#filter'], ['#call f\n', '#call']] as const) {
    e = failure(() => compile(src));
    assert.ok(e.message.includes(`the Cheetah directive ${construct} (`), e.message);
    assert.is(e.location.line, src.split('\n').findIndex((l) => l.startsWith(construct)) + 1);
  }
  e = failure(() => compile('#if True\nx\n'));
  assert.match(e.message, /#if is never closed by #end if/);
  e = failure(() => compile('#for $x in []\n#end if\n'));
  assert.match(e.message, /#end if closes #for \(opened at line 1\)/);
  e = failure(() => compile('#while True\n#end while\n'));
  assert.match(e.message, /the #while at line 1 has an empty part \(Cheetah refuses it; write #pass there\)/);
});

// ---- the Python subset ----------------------------------------------------------------------

test('Python: arithmetic follows Python 2 (integer division floors, big integers are exact)', () => {
  assert.is(py('7 / 2') + ' ' + py('-7 // 2') + ' ' + py('-7 % 3') + ' ' + py('7 / 2.0') + ' ' + py('2 ** 70'), '3 -4 2 3.5 1180591620717411303424');
  // str() of a float is Python 2's: 12 significant digits; repr() is the shortest round trip.
  assert.is(py('0.1 + 0.2') + ' ' + py('repr(0.1 + 0.2)') + ' ' + py('1e16') + ' ' + py('1e-5') + ' ' + py('10 * 1.0'), '0.3 0.30000000000000004 1e+16 1e-05 10.0');
});

test('Python: % formatting and str.format', () => {
  assert.is(py('"%s-%d-%05.1f-%x-%r-%%" % ("a", 42, 3.14159, 255, "q")'), "a-42-003.1-ff-'q'-%");
  assert.is(py('"%(host)s:%(port)d" % {"host": metadata.hostname, "port": 80}'), 'web1.example.com:80');
  assert.is(py('"{0}/{1} {name!r} {2:>4}|{3:.2f}".format("a", "b", 7, 2.5, name="n")'), "a/b 'n'    7|2.50");
  assert.match(failure(() => py('"%s %s" % ("one",)')).message, /not enough arguments for format string/);
});

test('Python: strings, lists, dicts and sets have their usual methods', () => {
  assert.is(py('" a, b ,c ".strip().split(",")[1].strip().upper()'), 'B');
  assert.is(py('"-".join(sorted(metadata.groups, key=len, reverse=True))'), 'ganglia-gmond-web-linux-web');
  assert.is(py('metadata.hostname.split(".", 1)[0]') + py('"a.b.c".rsplit(".", 1)[0]'), 'web1a.b');
  assert.is(py('metadata.hostname.startswith(("db", "web"))') + py('"abc".replace("b", "") + "x".zfill(3)'), 'Trueac00x');
  assert.is(py('metadata.categories.get("os") + str(metadata.categories.get("nope"))') + py('sorted(metadata.categories.items())[0][1]'), 'linuxNonelinux');
  assert.is(py('sorted(set(metadata.groups) - set(["web"]))'), 'ganglia-gmond-weblinux');
  assert.is(py('len(metadata.groups | set(["x"])) == 4 and "web" in metadata.groups'), 'True');
});

test('Python: comprehensions, lambdas, slices, conditional expressions', () => {
  assert.is(py('[g[:3] for g in metadata.groups if g != "linux"]'), 'ganweb');
  assert.is(py('",".join("%s=%s" % (k, v) for k, v in sorted({"b": 2, "a": 1}.items()))'), 'a=1,b=2');
  assert.is(py('sorted({g[0]: g for g in metadata.groups}.values())'), 'ganglia-gmond-weblinuxweb');
  assert.is(py('min(metadata.groups, key=lambda g: len(g))'), 'web');
  assert.is(py('metadata.hostname[::-1][:4]') + py('metadata.groups and "yes" or "no"') + py('"x" if metadata.uuid else "y"'), 'moc.yesy');
  assert.is(py('1 < 2 < 3') + py('1 < 3 < 2') + py('None is None') + py('[1, [2]] == [1, [2]]'), 'TrueFalseTrueTrue');
});

test('Python: builtins (len, sorted, range, enumerate, zip, sum, int, isinstance, …)', () => {
  assert.is(py('list(range(3))') + py('sum([1, 2, 3])') + py('int("42") + 1') + py('max(3, 9, 4)') + py('abs(-2)'), '012' + '6' + '43' + '9' + '2');
  assert.is(py('[a + b for a, b in zip("ab", "xy")]') + py('isinstance(metadata.hostname, str)') + py('isinstance(1, (str, int))'), 'axbyTrueTrue');
  assert.is(py('any(g.startswith("lin") for g in metadata.groups)') + py('all([])') + py('bool("")'), 'TrueTrueFalse');
});

test('Python: metadata offers inGroup, group_in_category and query over all clients', () => {
  assert.is(py('metadata.inGroup("web")') + py('metadata.group_in_category("os")') + '|' + py('metadata.group_in_category("nope")') + '|', 'Truelinux||');
  assert.is(py('",".join(metadata.query.names_by_groups(["linux", "web"]))'), 'web1.example.com');
  assert.is(py('",".join(metadata.query.names_by_profiles(["db", "web"]))'), 'db1.example.com,web1.example.com');
  assert.is(py('",".join(metadata.query.all_clients())') + '|' + py('",".join(sorted(metadata.query.all_groups()))'), 'db1.example.com,web1.example.com|bsd,db,ganglia-gmond-web,linux,web');
  assert.is(py('[m.hostname for m in metadata.query.by_groups(["bsd"])]') + py('metadata.query.by_name("DB1.example.com").profile'), 'db1.example.comdb');
  assert.is(py('sorted(metadata.query.all_groups_in_category("os"))'), 'bsdlinux');
});

test('Python: errors name the Python exception (KeyError, TypeError, ZeroDivisionError, …)', () => {
  assert.is(failure(() => cheetah('$metadata.categories["nope"]')).message, "KeyError: 'nope'");
  // Genshi looks a missing key up as an attribute too, then reports it undefined.
  assert.is(failure(() => py('metadata.categories["nope"]')).message, "UndefinedError: dict value has no key or attribute 'nope'");
  assert.match(failure(() => py('"a" + 1')).message, /^TypeError: unsupported operand type\(s\) for \+: 'str' and 'int'/);
  assert.match(failure(() => py('1 / 0')).message, /^ZeroDivisionError/);
  assert.match(failure(() => py('metadata.groups[0]')).message, /^TypeError: 'set' object is not subscriptable/);
  assert.match(failure(() => py('len(5)')).message, /^TypeError: object of type 'int' has no len\(\)/);
});

test('Python: templates reach nothing but bindery\'s own values (no prototypes, no host objects)', () => {
  for (const expr of ['metadata.constructor', '"".constructor', 'metadata.__class__', '[].__proto__', 'len.__globals__', 'metadata.categories.__proto__', '{}.constructor']) {
    const e = failure(() => py(expr));
    assert.is(e.code, 'TEMPLATE');
    assert.match(e.message, /UndefinedError|AttributeError/);
  }
  assert.match(failure(() => py('__import__("os")')).message, /the Python builtin __import__\(\) is outside the subset/);
  assert.match(failure(() => py('eval("1")')).message, /the Python builtin eval\(\) is outside the subset/);
});

test('Python: a runaway loop is stopped by the step budget, deep recursion by the depth limit', () => {
  const e = failure(() => genshi('{% python\nn = 0\nfor i in range(1000000):\n    for j in range(1000000):\n        n += 1\n%}'));
  assert.match(e.message, /loop iterations and calls; it was stopped/);
  assert.is(e.location.line, 4);
  assert.match(failure(() => genshi('{% python\ndef f(n):\n    return f(n + 1)\nx = f(0)\n%}')).message, /recursion/);
  assert.match(failure(() => py('"x" * 100000000')).message, /MemoryError/);
});

// ---- golden cases: template, client (web1 unless named), exact output ------------------------

const golden = (kind: 'genshi' | 'cheetah', cases: readonly (readonly [string, string])[]) => {
  for (const [src, expected] of cases) assert.is(render(kind, src), expected, JSON.stringify(src));
};

test('Python 2 prints floats with str(): 12 significant digits, a ".0" or an exponent (repr keeps them all)', () => {
  golden('genshi', [
    ['${1.0 / 3}|${[0.1 + 0.2]}|${str(1e15)}|${str(123456789012.0)}|${str(12345678901.0)}', '0.333333333333|0.3|1e+15|1.23456789012e+11|12345678901.0'],
    ['${"%s" % (0.1 + 0.2)}|${"{0}".format(1.0 / 3)}|${format(100.0)}|${repr(1.0 / 3)}', '0.3|0.333333333333|100.0|0.3333333333333333'],
  ]);
  golden('cheetah', [['$metadata.hostname\n#echo 1.0 / 3\n#echo [0.1 + 0.2]\n', 'web1.example.com\n0.333333333333[0.30000000000000004]']]);
});

test('Python: %f, %e and %g round exact ties to even, as Python does (not up, as JavaScript)', () => {
  golden('genshi', [
    ['${"%.1f|%.0f|%.0f|%.0f|%.2f" % (1.25, 0.5, 1.5, 2.5, 2.675)}', '1.2|0|2|2|2.67'],
    ['${"%.1e|%.0e|%.2g|%#.0f|%f" % (1.25, 2.5, 0.125, 3, 1e22)}', '1.2e+00|2e+00|0.12|3.|10000000000000000000000.000000'],
    ['${"{0:.1f}|{0:n}|{1:.3}".format(0.25, 1.0)}', '0.2|0.25|1.0'],
  ]);
});

test('Python 2 round(): half away from zero on the exact value, always a float', () => {
  golden('genshi', [['${round(2.675, 2)} ${round(0.5)} ${round(-2.5)} ${round(1234.5678, -2)} ${round(5, -1)} ${round(1.005, 2)}', '2.67 1.0 -3.0 1200.0 10.0 1.0']]);
});

test('Python: str.replace with an empty pattern and a count', () => {
  golden('genshi', [['${"abc".replace("", "-")}|${"abc".replace("", "-", 2)}|${"aaa".replace("a", "b", 2)}|${"abc".replace("", "-", 99)}', '-a-b-c-|-a-bc|bba|-a-b-c-']]);
});

test('Genshi: a loop pushes one frame for all its iterations: what the body sets carries over, not past the loop', () => {
  golden('genshi', [
    ['{% python first = True %}{% for g in metadata.groups %}{% if not first %}, {% end %}$g{% python first = False %}{% end %} first=$first', 'ganglia-gmond-web, linux, web first=True'],
    ['{% for x in [1, 2] %}{% end %}${defined("x")}', 'False'],
  ]);
});

test('Genshi: {% for %} over None renders nothing; a {% def %} outlives the loop that defines it', () => {
  golden('genshi', [
    ['[{% for x in None %}x{% end %}]', '[]'],
    ['{% for x in [1] %}{% def f() %}F{% end %}{% end %}${f()}', 'F'],
  ]);
  const e = failure(() => genshi('{% choose %}{% def f() %}{% when True %}x{% end %}{% end %}{% end %}\n${f()}'));
  assert.is(e.message, 'TemplateRuntimeError: "when" directives can only be used inside a "choose" directive');
  assert.is(e.location.line, 1);
});

test('Cheetah: a directive closed by # keeps its line and indentation; one that takes its line takes the indentation', () => {
  golden('cheetah', [
    ['a\n  #if True#yes#end if#\nb', 'a\n  yes\nb'],
    ['  #set $x = 1#\n$x', '  \n1'],
    ['a\n  #if True\n  b\n  #else\n  c\n  #end if\nd', 'a\n  b\nd'],
    ['  #if True ## why\n  b\n  #end if', '  b\n'],
  ]);
});

test('Cheetah: #slurp drops the rest of its line; block comments nest and eat the blanks after them', () => {
  golden('cheetah', [
    ['$name, #slurp ignored\nnext', '/etc/motd, next'],
    ['a #* c *#  \nb', 'a \nb'],
    ['#* a #* b *# c *#x\n  #* one\n  two *#\ny', 'x\ny'],
  ]);
});

test('Cheetah: a $ before a non-name is text (shell $*, $@), but ${…} and $(…) hold any expression, as in Cheetah', () => {
  golden('cheetah', [['echo "$*" ${1} $((1 + 2)) $@ $# ${ name }', 'echo "$*" 1 3 $@ $# /etc/motd']]);
  // A cached placeholder renders as the plain one: a one-shot render has nothing to cache.
  assert.is(cheetah('$*name $*5*name'), '/etc/motd /etc/motd');
});

test('Python constructs outside the subset found at render time are named, with the .liquid hint', () => {
  for (const [expr, message] of [
    ['open("/etc/passwd")', 'NameError: the Python builtin open() is outside the subset bindery evaluates'],
    ['"x".translate(None)', 'UndefinedError: str value has no attribute "translate" (bindery evaluates the str methods listed in docs/templates.md)'],
    ['divmod(1.5, 1)', 'TypeError: divmod() of non-integers is outside the subset bindery evaluates'],
  ]) {
    const e = failure(() => py(expr));
    assert.is(e.message, message);
    assert.match(e.hint ?? '', /motd\.liquid/);
  }
  for (const [src, construct] of [['${`x`}', 'backquote repr'], ['{% python\n@staticmethod\ndef f():\n    pass\n%}', 'a decorator']]) {
    const e = failure(() => genshi(src));
    assert.is(e.message, `${construct} is outside the subset bindery evaluates`);
    assert.match(e.hint ?? '', /motd\.liquid/);
  }
});

test('metadata.TemplateHelper says that bindery has no such plugin; without probe results or Properties, metadata.Probes and metadata.Properties are empty', () => {
  assert.match(failure(() => py('metadata.TemplateHelper')).message, /metadata\.TemplateHelper is not available: bindery has no TemplateHelper plugin/);
  assert.is(cheetah('$len($metadata.Probes) $len($metadata.Properties)'), '0 0');
  assert.match(failure(() => py('metadata.Properties["x.xml"]')).message, /^UndefinedError: .*'x.xml'/);
});

test('Python: sizes are bounded (lists, widths, precisions, integers), so a template cannot exhaust memory or hang', () => {
  for (const src of [
    '{% python\nl = [1]\nfor i in range(40):\n    l = l + l\n%}',
    '{% python\nl = [1]\nfor i in range(40):\n    l += l\n%}',
    '${"x".zfill(500000000)}',
    '${"%*d" % (500000000, 1)}',
    '${"%.100000000f" % 1}',
    '${9 ** 9 ** 9}',
    '${len("abc".replace("", "x" * 9000000))}',
  ]) {
    assert.match(failure(() => genshi(src)).message, /^MemoryError: /, src);
  }
});

// ---- Liquid ---------------------------------------------------------------------------------

test('Liquid: the variables Bcfg2 templates know, with groups as a sorted array', () => {
  assert.is(
    liquid('{{ metadata.hostname }}|{{ metadata.profile }}|{{ metadata.groups | join: "," }}|{{ metadata.bundles | size }}|{{ metadata.categories.os }}|{{ metadata.aliases | first }}|{{ metadata.addresses[0] }}|{{ metadata.uuid }}|{{ metadata.password }}|{{ metadata.version }}'),
    'web1.example.com|web|ganglia-gmond-web,linux,web|2|linux|www.example.com|10.0.0.1||web1-secret|1.3.6',
  );
  assert.is(liquid('{{ name }}|{{ path }}|{{ source_path }}|{{ repo }}'), `/etc/motd|/etc/motd|${ROOT}/Cfg/etc/motd/motd.liquid|${ROOT}`);
});

test('Liquid: {% raise %} fails the bind with the message, file, line and column', () => {
  const e = failure(() => liquid('ok\n{% unless metadata.groups contains "mail" %}  {% raise "no mail group on " | append: metadata.hostname %}{% endunless %}'));
  assert.is(e.code, 'TEMPLATE');
  assert.is(e.message, 'TemplateError: no mail group on web1.example.com');
  assert.equal(e.location, { file: 'Cfg/etc/motd/motd.liquid', line: 2, column: 47 });
});

test('Liquid: undefined variables and filters are errors (strict)', () => {
  let e = failure(() => liquid('a\n  {{ metadata.nosuch }}'));
  assert.is(e.message, 'undefined variable "metadata.nosuch"');
  assert.equal(e.location, { file: 'Cfg/etc/motd/motd.liquid', line: 2, column: 6 });
  e = failure(() => compileTemplate('liquid', '{{ name | frobnicate }}', 'Cfg/etc/motd/motd.liquid', { repoRoot: ROOT }));
  assert.match(e.message, /undefined filter: frobnicate/);
  e = failure(() => compileTemplate('liquid', '{% if name %}', 'Cfg/etc/motd/motd.liquid', { repoRoot: ROOT }));
  assert.match(e.message, /not closed/);
});

test('Liquid: a value some clients lack can be tested with {% if %} or given a default, and still fails when printed', () => {
  assert.is(liquid('{% if metadata.categories.site %}site {{ metadata.categories.site }}{% else %}no site{% endif %}|{{ metadata.categories.site | default: "none" }}'), 'no site|none');
  assert.is(liquid('{% unless metadata.categories.site %}none{% endunless %}'), 'none');
  assert.is(failure(() => liquid('{{ metadata.categories.site }}')).message, 'undefined variable "metadata.categories.site"');
});

mkdirSync(join(ROOT, 'Cfg/etc/partials'), { recursive: true });
writeFileSync(join(ROOT, 'Cfg/etc/partials/local.liquid'), 'local {{ metadata.hostname }}\n');
writeFileSync(join(ROOT, 'Templates/shared.liquid'), 'shared {{ name }}\n');
writeFileSync(join(ROOT, 'Templates/raises.liquid'), '\n{% raise "from partial" %}');
symlinkSync(outside, join(ROOT, 'Cfg/etc/partials/escape.liquid'));
const part = (src: string) => render('liquid', src, { file: 'Cfg/etc/partials/partials.liquid' });

test('Liquid: include and render read partials from the entry directory and Templates/', () => {
  assert.is(part('{% include "local.liquid" %}{% render "shared.liquid", name: name %}'), 'local web1.example.com\nshared /etc/motd\n');
});

test('Liquid: partials never leave the repository (.., absolute paths, symlinks)', () => {
  assert.match(failure(() => part(`{% include "${escapeUp}" %}`)).message, /without "\.\."/);
  assert.match(failure(() => part(`{% include "${outside}" %}`)).message, /without "\.\." or a leading "\/"/);
  assert.match(failure(() => part('{% include "escape.liquid" %}')).message, /Failed to lookup|outside the repository/);
  assert.match(failure(() => part('{% include "missing.liquid" %}')).message, /Failed to lookup "missing\.liquid"/);
});

test('Liquid: an error inside a partial names the partial', () => {
  const e = failure(() => part('x{% include "raises.liquid" %}'));
  assert.is(e.message, 'TemplateError: from partial');
  assert.is(e.location.file, 'Templates/raises.liquid');
  assert.is(e.location.line, 2);
});

test('templates are compiled once and rendered many times, for different clients', () => {
  const t = compileTemplate('genshi', '$metadata.hostname', 'Cfg/x/x.genshi', { repoRoot: ROOT });
  const vars = (m: ClientMetadata) => ({ metadata: m, allClients: CLIENTS, name: '/x', sourcePath: '/x', repo: ROOT });
  assert.equal([t.render(vars(web1)), t.render(vars(db1)), t.render(vars(web1))], ['web1.example.com', 'db1.example.com', 'web1.example.com']);
});

test.after(() => {
  repo.cleanup();
  outsideDir.cleanup();
});

// ---- bounds and server code (issue-level attacks) -----------------------------------------

test('repr() of a list shared many times over fails fast with a MemoryError instead of eating memory', () => {
  const t0 = Date.now();
  const e = failure(() => cheetah('#set $a = [1]\n#for $i in range(40)\n#set $a = [$a, $a]\n#end for\n${repr($a)}'));
  assert.match(e.message, /^MemoryError: the text of a value passed 10000000 characters/);
  assert.is(e.location.line, 5);
  assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
});

test('a render whose output grows past the bound stops with a clear message', () => {
  const e = failure(() => cheetah("#set $s = 'x' * 1000000\n#for $i in range(100)\n$s\n#end for\n"));
  assert.match(e.message, /the template's output passed 40000000 characters; it was stopped/);
});

test('a runaway #while stops at the step limit, and no #except catches a limit', () => {
  assert.match(failure(() => cheetah('#while True\nx#slurp\n#end while\n')).message, /loop iterations and calls; it was stopped/);
  assert.match(failure(() => cheetah('#try\n#while True\n#pass\n#end while\n#except\ncaught\n#end try\n')).message, /it was stopped/);
});

test('Liquid: a {% for %} over a range of 100000000 fails at once with a clear message', () => {
  const t0 = Date.now();
  const e = failure(() => render('liquid', '{% for i in (1..100000000) %}{{ i }}{% endfor %}'));
  assert.match(e.message, /the template builds more than \d+ items or characters \(a huge range or string\); it was stopped/);
  assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`);
});

test('importing a TemplateHelper module or other Bcfg2 server code is refused, naming the module, file, line and what to use', () => {
  const compile = (kind: 'cheetah' | 'genshi', src: string) => compileTemplate(kind, src, `Cfg/etc/x/x.${kind}`, { repoRoot: ROOT });
  let e = failure(() => compile('cheetah', 'x\n#from Bcfg2.Server.Plugins.TemplateHelper import helper\n'));
  assert.match(e.message, /^importing Bcfg2\.Server\.Plugins\.TemplateHelper: TemplateHelper modules and other Bcfg2 server code are Python that bindery does not run; put what the helper computes in Properties/);
  assert.equal(e.location, { file: 'Cfg/etc/x/x.cheetah', line: 2, column: 1 });
  e = failure(() => compile('genshi', '{% python\nimport TemplateHelper\n%}'));
  assert.match(e.message, /^importing TemplateHelper: /);
  assert.is(e.location.line, 2);
});

test.run();
