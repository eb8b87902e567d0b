import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { xmlMatch, loadProperties, type PNode, type PropertiesModel } from '../src/properties/index.ts';
import { compileTemplate } from '../src/templates/index.ts';
import { configFromIni, parseIni } from '../src/config/index.ts';
import { encryptText, passphrases } from '../src/secrets/index.ts';
import type { ClientMetadata } from '../src/types.ts';
import { scanRepo } from '../src/repo/index.ts';
import { ROOT, binderyCompiled, tempDir, throwsBindery, writeTree } from './helpers.ts';

/**
 * The reference is lxml itself (Debian's python3-lxml, the library Bcfg2 parses Properties
 * with): the same documents are parsed with remove_blank_text, matched by moving and removing
 * nodes the way Bcfg2's StructFile does, and queried with lxml's find/findall/findtext/xpath.
 */
const PYTHON = '/usr/bin/python3';

const DOC = `<Properties>
  <Server>a</Server>
  <Group name="g1">g1text<Server>b</Server>
    <Group name="g2">g2text<Server>c</Server></Group>
    <Server>d</Server>
  </Group>
  <Client name="h1"><Option name="x" value="1"/></Client>
  <Group name="g3" negate="true"><Server>e</Server></Group>
  <Section name="s">
    <Group name="g1"><Item>i1</Item></Group>
    <Item>i0</Item>
    <Item x="1">i2</Item>
  </Section>
  <Mixed>hello <b>bold</b> world <i>it</i> </Mixed>
  <Blank>   </Blank>
  <Empty/>
</Properties>`;

const CLIENTS: { hostname: string; groups: string[] }[] = [
  { hostname: 'h1', groups: ['g1', 'g2'] },
  { hostname: 'h2', groups: ['g3'] },
  { hostname: 'h3', groups: ['g1'] },
];

const FIND_PATHS = ['Server', '*', './/Server', 'Section/Item', '.', 'Section/..', 'Server[1]', 'Server[last()]', 'Section/Item[2]', '*[@name]', "*[@name='s']", "Section[Item='i0']", 'Section[Item]', 'Mixed/b', 'Nope', 'Section/'];
const XPATHS = ['//Server', '/Properties/Server', 'Server/text()', '//@name', '//Item[1]', 'Section/Item[@x]', '.', '//Item[last()]', "//*[@name='s']/Item"];

const LXML = String.raw`
import json, sys, copy
import lxml.etree as ET
doc, clients, find_paths, xpaths = json.load(sys.stdin)
parser = ET.XMLParser(remove_blank_text=True)

def dump(e):
    return [e.tag, e.text, e.tail, dict(e.attrib), [dump(c) for c in e]]

def holds(el, md):
    hit = el.get('name') in md['groups'] if el.tag == 'Group' else el.get('name') == md['hostname']
    return hit != (el.get('negate', 'false').lower() == 'true')

def matched(el, md):
    # Bcfg2's XMLMatch, done the way lxml sees it: a matching condition's children move to the
    # end of its parent, its text joins the parent's, and it is removed; others are removed whole.
    if el.tag in ('Group', 'Client'):
        parent = el.getparent()
        if holds(el, md):
            for child in el.iterchildren():
                el.remove(child)
                parent.append(child)
                matched(child, md)
            if el.text:
                parent.text = el.text if parent.text is None else parent.text + el.text
        parent.remove(el)
    else:
        for child in el.iterchildren():
            matched(child, md)

def show(r):
    return ['%s|%r|%r' % (e.tag, e.text, e.tail) if hasattr(e, 'tag') else 's:' + str(e) for e in r]

root = ET.fromstring(doc, parser)
out = {'tree': dump(root), 'matched': {}, 'find': {}, 'xpath': {}}
for md in clients:
    m = copy.deepcopy(root)
    for c in m.iterchildren():
        matched(c, md)
    out['matched'][md['hostname']] = dump(m)
for p in find_paths:
    out['find'][p] = {'findall': show(root.findall(p)), 'find': show([x for x in [root.find(p)] if x is not None]), 'findtext': root.findtext(p, 'DEFAULT')}
for p in xpaths:
    out['xpath'][p] = show(root.xpath(p))
print(json.dumps(out))
`;

interface Reference {
  tree: unknown;
  matched: Record<string, unknown>;
  find: Record<string, { findall: string[]; find: string[]; findtext: string }>;
  xpath: Record<string, string[]>;
}

function lxml(): Reference {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is needed as the lxml reference (Debian packages python3 and python3-lxml)`);
  try {
    return JSON.parse(execFileSync(PYTHON, ['-c', LXML], { input: JSON.stringify([DOC, CLIENTS, FIND_PATHS, XPATHS]), encoding: 'utf8' })) as Reference;
  } catch (e) {
    throw new Error(`the lxml reference failed; install Debian's python3-lxml: ${(e as Error).message}`);
  }
}

const ref = lxml();

/** DOC as loadProperties reads it from the repository scan. */
function parsePropertyXml(text: string, rel: string): PNode {
  const file = { rel: `Properties/${rel}`, abs: `/nonexistent/Properties/${rel}`, data: Buffer.from(text), mode: 0o644 };
  const p = loadProperties({ pluginFiles: new Map([[file.rel, file]]) }, configFromIni({}, null), []);
  assert.equal(p.diagnostics, []);
  return p.files[0]!.root!;
}
const dump = (n: PNode): unknown => [n.tag, n.text, n.tail, { ...n.attrib }, n.children.map(dump)];

function client(hostname: string, groups: string[], probes?: Record<string, string>): ClientMetadata {
  return { hostname, profile: null, groups, bundles: [], categories: {}, aliases: [], addresses: [], uuid: null, password: null, version: null, ...(probes ? { probes } : {}) };
}

const model = (root: PNode, automatch = false): PropertiesModel => ({ files: [{ name: 't.xml', file: 'Properties/t.xml', data: DOC, root, automatch }], diagnostics: [] });

function genshi(source: string, m: ClientMetadata, properties: PropertiesModel): string {
  return compileTemplate('genshi', source, 'Cfg/x/x.genshi', { repoRoot: '/nonexistent' }).render({ metadata: m, allClients: [m], name: '/x', sourcePath: '/nonexistent/Cfg/x/x.genshi', repo: '/nonexistent', properties });
}

const SHOW = (expr: string) => `{% for e in ${expr} %}\${e if isinstance(e, str) else '%s|%r|%r' % (e.tag, e.text, e.tail)}\n{% end %}`;
const lines = (s: string) => s.split('\n').filter((l, i, all) => i < all.length - 1 || l !== '');

test('a Properties file parses as lxml parses it with remove_blank_text: text, tail, attributes, blank text dropped', () => {
  assert.equal(dump(parsePropertyXml(DOC, 't.xml')), ref.tree);
});

for (const c of CLIENTS) {
  test(`automatch gives what Bcfg2's XMLMatch gives on lxml, order and text included: client ${c.hostname}`, () => {
    assert.equal(dump(xmlMatch(parsePropertyXml(DOC, 't.xml'), c)), ref.matched[c.hostname]);
  });
}

for (const p of FIND_PATHS) {
  test(`xdata.find, findall and findtext(${JSON.stringify(p)}) answer as lxml does`, () => {
    const props = model(parsePropertyXml(DOC, 't.xml'));
    const x = "metadata.Properties['t.xml'].xdata";
    const m = client('h1', []);
    assert.equal(lines(genshi(SHOW(`${x}.findall(${JSON.stringify(p)})`), m, props)), ref.find[p]!.findall, 'findall');
    assert.equal(lines(genshi(SHOW(`[y for y in [${x}.find(${JSON.stringify(p)})] if y is not None]`), m, props)), ref.find[p]!.find, 'find');
    assert.is(genshi(`\${${x}.findtext(${JSON.stringify(p)}, 'DEFAULT')}`, m, props), ref.find[p]!.findtext, 'findtext');
  });
}

for (const p of XPATHS) {
  test(`xdata.xpath(${JSON.stringify(p)}) answers as lxml does`, () => {
    const props = model(parsePropertyXml(DOC, 't.xml'));
    assert.equal(lines(genshi(SHOW(`metadata.Properties['t.xml'].xdata.xpath(${JSON.stringify(p)})`), client('h1', []), props)), ref.xpath[p]!.map((s) => s.replace(/^s:/, '')));
  });
}

test('elements iterate over their children, have len(), [i], attrib, get() and keys()', () => {
  const props = model(parsePropertyXml(DOC, 't.xml'));
  const out = genshi("{% with s = metadata.Properties['t.xml'].xdata.find('Section') %}${len(s)} ${s[1].text} ${repr([c.tag for c in s])} ${s.get('name')} ${s.get('nope', 'd')} ${s.attrib['name']} ${repr(s.keys())}{% end %}", client('h1', []), props);
  assert.is(out, "3 i0 ['Group', 'Item', 'Item'] s d s ['name']");
});

test('an absolute ElementPath on an element is refused as lxml refuses it, pointing at xpath()', () => {
  const props = model(parsePropertyXml(DOC, 't.xml'));
  const e = throwsBindery(() => genshi("${metadata.Properties['t.xml'].xdata.findall('//Server')}", client('h1', []), props));
  assert.match(e.message, 'SyntaxError: cannot use absolute path on element');
  assert.is(e.location.line, 1);
});

test('an xpath outside the simple subset is refused naming the expression', () => {
  const props = model(parsePropertyXml(DOC, 't.xml'));
  const e = throwsBindery(() => genshi("${metadata.Properties['t.xml'].xdata.xpath('count(//Server)')}", client('h1', []), props));
  assert.match(e.message, 'count(//Server)');
});

test('with automatch the value is the matched element itself, as in Bcfg2; .xdata says so', () => {
  const props = model(parsePropertyXml(DOC, 't.xml'), true);
  assert.is(genshi("${repr([s.text for s in metadata.Properties['t.xml'].findall('Server')])}", client('h1', ['g1', 'g2']), props), "['a', 'b', 'c', 'd', 'e']");
  const props2 = model(parsePropertyXml(DOC, 't.xml'));
  assert.is(genshi("${repr([s.text for s in metadata.Properties['t.xml'].XMLMatch(metadata).findall('Server')])}", client('h2', ['g3']), props2), "['a']");
  assert.is(genshi("${repr([s.tag for s in metadata.Properties['t.xml'].Match(metadata)])}", client('h1', ['g1']), props2), "['Server', 'Server', 'Server', 'Option', 'Server', 'Section', 'Mixed', 'Blank', 'Empty']");
  const e = throwsBindery(() => genshi("${metadata.Properties['t.xml'].findall('Server')}", client('h1', []), props2));
  assert.match(e.message, ".xdata.findall");
});

test('Liquid sees Properties and Probes as plain data', () => {
  const props = model(parsePropertyXml(DOC, 't.xml'), true);
  const tpl = compileTemplate('liquid', "{% for s in metadata.Properties['t.xml'].xdata.children %}{% if s.tag == 'Server' %}{{ s.text }} {% endif %}{% endfor %}{{ metadata.Probes.arch }}", 'Cfg/x/x.liquid', { repoRoot: '/nonexistent' });
  const m = client('h1', ['g1', 'g2'], { arch: 'x86_64' });
  assert.is(tpl.render({ metadata: m, allClients: [m], name: '/x', sourcePath: '/x', repo: '/nonexistent', properties: props }), 'a b c d e x86_64');
});

// --- loading: encryption, automatch, errors

const CONF = '[encryption]\nsite = site secret\nother = other secret\n[properties]\nautomatch = true\n';

async function loadFrom(files: Record<string, string>, conf = CONF) {
  const t = tempDir();
  try {
    writeTree(t.dir, { 'Metadata/groups.xml': '<Groups/>', ...files });
    const config = configFromIni(parseIni(conf, 'bcfg2.conf'), 'bcfg2.conf');
    return loadProperties(await scanRepo(t.dir, config), config, passphrases(config, {}));
  } finally {
    t.cleanup();
  }
}

test('encrypted elements are decrypted with the passphrase they name, once at load; [properties] automatch and the root attribute decide automatch', async () => {
  const cipher = encryptText(Buffer.from('db-password'), 'other secret').trim();
  const p = await loadFrom({
    'Properties/a.xml': `<Properties><Secret encrypted="other">${cipher}</Secret></Properties>`,
    'Properties/sub/b.xml': '<Properties automatch="false"><X/></Properties>',
  });
  assert.equal(p.files.map((f) => [f.name, f.automatch]), [['a.xml', true], ['sub/b.xml', false]]);
  assert.is(p.files[0]!.root!.children[0]!.text, 'db-password');
  assert.equal(p.diagnostics, []);
});

test('an element that cannot be decrypted makes the file unusable, and a template reading it fails naming the file and line; lax_decryption leaves it encrypted', async () => {
  const cipher = encryptText(Buffer.from('db-password'), 'not configured').trim();
  const files = { 'Properties/a.xml': `<Properties>\n  <Secret encrypted="site">${cipher}</Secret>\n</Properties>` };
  const p = await loadFrom(files);
  assert.is(p.files[0]!.root, null);
  assert.is(p.files[0]!.error!.location.line, 2);
  assert.ok(p.diagnostics.some((d) => d.code === 'properties-unusable' && d.file === 'Properties/a.xml'));
  const e = throwsBindery(() => genshi("${metadata.Properties['a.xml'].xdata}", client('h', []), p));
  assert.match(e.message, 'Properties/a.xml:2');
  assert.not.match(e.message, 'site secret');
  const lax = await loadFrom(files, CONF.replace('[encryption]\n', '[encryption]\nlax_decryption = true\n'));
  assert.is(lax.files[0]!.root!.children[0]!.text, cipher, '[encryption] lax_decryption leaves it encrypted');
  const p2 = await loadFrom({ 'Properties/a.xml': `<Properties lax_decryption="true"><Secret encrypted="site">${cipher}</Secret></Properties>` });
  assert.is(p2.files[0]!.root!.children[0]!.text, cipher);
  assert.ok(p2.diagnostics.some((d) => d.code === 'properties-decrypt-failed'));
});

test('plaintext that is not ASCII stays encrypted, as Bcfg2 1.4 leaves it, with a warning', async () => {
  const cipher = encryptText(Buffer.from('pässword'), 'site secret').trim();
  const p = await loadFrom({ 'Properties/a.xml': `<Properties><S encrypted="site">${cipher}</S></Properties>` });
  assert.is(p.files[0]!.root!.children[0]!.text, cipher);
  assert.ok(p.diagnostics.some((d) => d.code === 'properties-decrypt-not-ascii'));
});

test('malformed Properties XML is reported with file and line; a link out of the repository is refused', async () => {
  const p = await loadFrom({ 'Properties/bad.xml': '<Properties>\n<Open>\n</Properties>' });
  assert.is(p.files[0]!.error!.code, 'XML');
  assert.is(p.files[0]!.error!.location.file, 'Properties/bad.xml');
  const t = tempDir();
  try {
    writeTree(t.dir, { 'Properties/.keep': '' });
    execFileSync('ln', ['-s', '/etc/hostname', join(t.dir, 'Properties/x.xml')]);
    writeTree(t.dir, { 'Metadata/groups.xml': '<Groups/>' });
    const e = await scanRepo(t.dir, configFromIni({}, null)).then(() => null, (err: Error) => err);
    assert.match(String(e?.message), 'outside the repository');
  } finally {
    t.cleanup();
  }
});

// --- end to end: the sample repository through the compiled CLI

test('bindery build of the sample repository: ntp.conf from automatched Properties, a probe group, a probe value, a decrypted Properties key', async () => {
  const t = tempDir();
  try {
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', join(t.dir, 'key.pem')]);
    const r = await binderyCompiled(['build', join(ROOT, 'sample-repo'), '--out', join(t.dir, 'out'), '--signing-key', join(t.dir, 'key.pem'), '--no-validate', '--json']);
    assert.is(r.code, 0, r.stderr);
    const file = async (host: string, path: string) => {
      const b = await binderyCompiled(['info', 'buildfile', path, host, '--repo', join(ROOT, 'sample-repo')]);
      assert.is(b.code, 0, b.stderr);
      return b.stdout;
    };
    const web1 = await file('web1.example.com', '/etc/ntp.conf');
    assert.match(web1, 'server ntp.hypervisor.example.com iburst', 'the probe group virtual-guest chose a Properties server');
    assert.match(web1, '# probed architecture: x86_64');
    const web2 = await file('web2.example.com', '/etc/ntp.conf');
    assert.not.match(web2, 'hypervisor');
    assert.not.match(web2, 'probed architecture');
    assert.match(await file('node01.cluster.example.com', '/etc/ntp.conf'), 'server ntp.cluster.example.com iburst prefer');
    assert.is(await file('db1.example.com', '/etc/ntp.keys'), '1 MD5 ntp-shared-key-7f2a\n');
    const info = await binderyCompiled(['info', 'client', 'web1.example.com', '--repo', join(ROOT, 'sample-repo'), '--json']);
    assert.ok(JSON.parse(info.stdout).metadata.groups.includes('virtual-guest'));
    const manifest = readFileSync(join(t.dir, 'out', 'current', 'manifest.json'), 'utf8');
    assert.not.match(manifest, 'ntp-shared-key', 'no plaintext secret in the manifest');
  } finally {
    t.cleanup();
  }
});

test.run();
