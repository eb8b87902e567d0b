import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { loadMetadata, parseMetadata, findClient, groupInCategory, groupStandIn, clientsByAddress, type MetadataModel } from '../src/metadata/index.ts';
import { FIXTURES, tempDir, throwsBindery as throws } from './helpers.ts';

const fixture = loadMetadata(join(FIXTURES, 'metadata-bcfg2'));

function client(model: MetadataModel, name: string) {
  const c = findClient(model, name);
  if (!c) throw new Error(`no client ${name}`);
  return c;
}

function auth(model: MetadataModel, name: string) {
  return model.auth.find((a) => a.hostname === name)!;
}

/** Write a small repo (files relative to it) and run `fn` on its directory. */
function withRepo(files: Record<string, string>, fn: (dir: string) => void): void {
  const t = tempDir('bindery-metadata-');
  try {
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(dirname(join(t.dir, rel)), { recursive: true });
      writeFileSync(join(t.dir, rel), text);
    }
    fn(t.dir);
  } finally {
    t.cleanup();
  }
}

/** The Bcfg2 fixture with a Probes/probed.xml giving `host` these probe groups. */
function withProbeGroups(host: string, groups: string[]): MetadataModel {
  const t = tempDir('bindery-probed-');
  try {
    cpSync(join(FIXTURES, 'metadata-bcfg2'), t.dir, { recursive: true });
    mkdirSync(join(t.dir, 'Probes'));
    writeFileSync(join(t.dir, 'Probes/probed.xml'), `<Probed><Client name="${host}" timestamp="1">${groups.map((g) => `<Group name="${g}"/>`).join('')}</Client></Probed>`);
    return loadMetadata(t.dir);
  } finally {
    t.cleanup();
  }
}

const parse = (groups: string, clients: string) =>
  parseMetadata({ text: groups, file: 'Metadata/groups.xml' }, { text: clients, file: 'Metadata/clients.xml' });

// --- the Bcfg2 TestMetadata fixture ---

test('client1 is in its profile group only, with its address and password', () => {
  const c = client(fixture, 'client1');
  assert.is(c.profile, 'group1');
  assert.equal(c.groups, ['group1']);
  assert.equal(c.bundles, []);
  assert.equal(c.addresses, ['1.2.3.1']);
  assert.equal(c.categories, { category1: 'group1' });
  assert.is(c.password, 'password2');
  assert.is(auth(fixture, 'client1').auth, 'cert');
});

test('client2 keeps group2; group1 and group4 lose category1 with a warning naming both groups', () => {
  const c = client(fixture, 'client2');
  assert.is(c.profile, 'group2');
  assert.equal(c.groups, ['group2']);
  assert.equal(c.bundles, ['bundle1', 'bundle2']);
  assert.equal(c.addresses, ['1.2.3.2']);
  assert.equal(c.categories, { category1: 'group2' });
  assert.is(c.password, null);
  const warnings = fixture.diagnostics.filter((d) => d.code === 'category-conflict' && d.host === 'client2');
  assert.is(warnings.length, 2);
  for (const [loser, w] of [['group1', warnings[0]!], ['group4', warnings[1]!]] as const) {
    assert.match(w.message, `"${loser}"`);
    assert.match(w.message, '"group2"');
    assert.match(w.message, 'category1');
    assert.is(w.file, 'Metadata/groups.xml');
  }
});

test('asking for alias1 gives client3 with its uuid, alias and address', () => {
  const c = client(fixture, 'alias1');
  assert.is(c.hostname, 'client3');
  assert.equal(c.groups, ['group1']);
  assert.equal(c.aliases, ['alias1']);
  assert.equal(c.addresses, ['1.2.3.3']);
  assert.is(c.uuid, 'uuid1');
  assert.is(c.password, 'password2');
});

test('an unlisted client is not compiled (decision 8 (docs/decisions.md)): no lookup result, and its probe results are ignored', () => {
  assert.is(findClient(fixture, 'newclient'), undefined);
  assert.not.ok(fixture.clients.some((c) => c.hostname === 'newclient'));
  const m = withProbeGroups('newclient', ['group7']);
  assert.is(findClient(m, 'newclient'), undefined);
  assert.ok(m.diagnostics.some((d) => d.code === 'probes-unknown-client' && d.host === 'newclient'));
});

test('client8 gets group8 from a top-level Client, group9 through group8, group10 through group8+group1', () => {
  const c = client(fixture, 'client8');
  assert.equal(c.groups, ['group1', 'group10', 'group8', 'group9']);
  assert.equal(c.addresses, ['1.2.3.5']);
  assert.equal(c.bundles, []);
});

test('client9 loses group9 to its negation and the loop stops on an equal count', () => {
  const c = client(fixture, 'client9');
  assert.is(c.profile, 'group2');
  assert.equal(c.groups, ['group11', 'group2', 'group8']);
  assert.equal(c.bundles, ['bundle1', 'bundle2']);
  assert.is(c.password, 'password3');
});

test('declarations, default group and the membership rules', () => {
  const decl = (n: string) => fixture.groups.find((g) => g.name === n)!;
  for (const g of ['group1', 'group2']) assert.ok(decl(g).public && decl(g).profile, g);
  assert.not.ok(decl('group3').public || decl('group3').profile);
  assert.equal(['group1', 'group2', 'group3', 'group4'].map((g) => decl(g).category), ['category1', 'category1', 'category2', 'category1']);
  assert.is(fixture.defaultGroup, 'group1');
  assert.equal(decl('group2').bundles, ['bundle1', 'bundle2']);
  const adding = new Set(fixture.rules.filter((r) => !r.negate).map((r) => r.group));
  assert.equal([...adding].sort(), ['group1', 'group10', 'group11', 'group4', 'group6', 'group8', 'group9']);
  assert.equal([...new Set(fixture.rules.filter((r) => r.negate).map((r) => r.group))], ['group9']);
});

test('clients.xml attributes: floating, secure, aliases, shared address', () => {
  const names = (pred: (a: (typeof fixture.auth)[number]) => boolean) => fixture.auth.filter(pred).map((a) => a.hostname);
  assert.equal(names((a) => a.floating), ['client1', 'client10']);
  assert.equal(names((a) => a.secure), ['client2', 'client9']);
  assert.is(client(fixture, 'alias1').hostname, 'client3');
  assert.is(client(fixture, 'alias2').hostname, 'client4');
  assert.is(client(fixture, 'alias3').hostname, 'client4');
  assert.equal(clientsByAddress(fixture, '1.2.3.2'), ['client2', 'client4']);
  assert.is(auth(fixture, 'client6').auth, 'bootstrap');
  assert.is(auth(fixture, 'client8').auth, 'cert+password');
  assert.is(auth(fixture, 'client5').auth, null);
  assert.equal(auth(fixture, 'client4').aliases, [{ name: 'alias2', address: '1.2.3.2' }, { name: 'alias3', address: null }]);
});

test('probe groups merged into client2 honour categories, add bundles and follow rules', () => {
  const probed = (groups: string[]) => client(withProbeGroups('client2', groups), 'client2');
  const refused = probed(['group4']);
  assert.not.ok(refused.groups.includes('group4'));
  assert.equal(refused.categories, { category1: 'group2' });
  assert.equal(probed(['group7']).bundles, ['bundle1', 'bundle2', 'bundle3']);
  assert.equal(probed(['group12']).categories, { category1: 'group2', category3: 'group12' });
  assert.equal(probed(['group6', 'group8']).groups, ['group2', 'group6', 'group8', 'group9']);
  assert.equal(probed(['probed-group']).groups, ['group2', 'probed-group']);
  assert.equal(client(fixture, 'client2').groups, ['group2'], 'without probed.xml the client has its own groups only');
});

test('address resolution table: a shared address has two owners, alias names resolve', () => {
  assert.equal(clientsByAddress(fixture, '1.2.3.2'), ['client2', 'client4']);
  assert.equal(clientsByAddress(fixture, '1.2.3.1'), ['client1']);
  assert.equal(clientsByAddress(fixture, '10.0.0.1'), []);
  assert.is(client(fixture, 'alias3').hostname, 'client4');
});

test('the address table behind address validation', () => {
  assert.ok(auth(fixture, 'client1').floating);
  assert.ok(clientsByAddress(fixture, '1.2.3.2').includes('client2'));
  assert.equal(auth(fixture, 'client4').addresses, ['1.2.3.2'], "client4 owns its alias's address");
  assert.equal(clientsByAddress(fixture, '1.2.3.5'), ['client8'], '1.2.3.5 is not client5’s');
  assert.is(client(fixture, 'CLIENT4').hostname, 'client4');
});

test('clients are listed sorted by hostname, auth in the same order', () => {
  const names = fixture.clients.map((c) => c.hostname);
  assert.equal(names, [...names].sort());
  assert.equal(fixture.auth.map((a) => a.hostname), names);
  assert.is(names.length, 10);
});

test('groupInCategory gives the member group or an empty string', () => {
  assert.is(groupInCategory(client(fixture, 'client2'), 'category1'), 'group2');
  assert.is(groupInCategory(client(fixture, 'client2'), 'category2'), '');
  assert.is(groupInCategory(client(fixture, 'client2'), 'constructor'), '');
});

test('groupStandIn stands for a whole group: hostname dummy, the group as profile and only group, its category when a client shows one', () => {
  const g = groupStandIn('group7', fixture.clients);
  assert.is(g.hostname, 'dummy');
  assert.is(g.profile, 'group7');
  assert.equal(g.groups, ['group7']);
  assert.equal(g.categories, {});
  assert.equal(groupStandIn('group2', fixture.clients).categories, { category1: 'group2' });
});

// --- bindery's rules ---

const GROUPS = `<Groups>
  <Group name="web" profile="true" public="true"><Bundle name="nginx"/></Group>
  <Group name="db" profile="true"/>
</Groups>`;

test('client names and aliases are case-folded', () => {
  const m = parse(GROUPS, `<Clients><Client name="Web1.Example.COM" profile="web" version="1.4.0"><Alias name="WWW.example.com"/></Client></Clients>`);
  assert.equal(m.clients.map((c) => c.hostname), ['web1.example.com']);
  assert.is(client(m, 'web1.example.com').version, '1.4.0');
  assert.is(client(m, 'WEB1.example.com').hostname, 'web1.example.com');
  assert.is(client(m, 'www.EXAMPLE.com').hostname, 'web1.example.com');
  assert.equal(client(m, 'www.example.com').bundles, ['nginx']);
});

test('a mixed-case <Client> conditional in groups.xml never matches, with a warning', () => {
  const m = parse(`<Groups><Group name="p" profile="true"><Client name="Web1"><Group name="x"/></Client></Group></Groups>`, `<Clients><Client name="web1" profile="p"/></Clients>`);
  assert.equal(client(m, 'web1').groups, ['p']);
  assert.ok(m.diagnostics.some((d) => d.code === 'client-name-case' && d.message.includes('"web1"')));
});

test('a profile naming an undeclared group is an error naming clients.xml, the line and the client', () => {
  const e = throws(() => parse(GROUPS, `<Clients>\n  <Client name="a" profile="web"/>\n  <Client name="b" profile="mail"/>\n</Clients>`));
  assert.is(e.code, 'METADATA');
  assert.is(e.location.file, 'Metadata/clients.xml');
  assert.is(e.location.line, 3);
  assert.is(e.location.host, 'b');
  assert.match(e.message, '"mail"');
  assert.match(e.hint ?? '', 'declare');
});

test('a client without a profile is an error', () => {
  const e = throws(() => parse(GROUPS, `<Clients><Client name="a"/></Clients>`));
  assert.is(e.code, 'METADATA');
  assert.is(e.location.host, 'a');
  assert.match(e.message, 'no profile');
});

test('an unknown auth value is an error', () => {
  const e = throws(() => parse(GROUPS, `<Clients>\n<Client name="a" profile="web" auth="password"/></Clients>`));
  assert.is(e.code, 'METADATA');
  assert.is(e.location.line, 2);
  assert.match(e.message, 'auth="password"');
  assert.match(e.hint ?? '', 'cert+password');
});

test('a profile group that is not profile="true" is a member group but not the profile, with a warning', () => {
  const m = parse(`<Groups><Group name="plain"/><Group name="p" profile="true"><Group name="x"/></Group></Groups>`, `<Clients><Client name="a" profile="plain"/></Clients>`);
  const c = client(m, 'a');
  assert.equal(c.groups, ['plain']);
  assert.is(c.profile, null);
  assert.ok(m.diagnostics.some((d) => d.code === 'non-profile-group' && d.host === 'a'));
});

test('a leaf <Client> inside a Group is an error naming the file and line', () => {
  const e = throws(() => parse(`<Groups>\n  <Group name="web">\n    <Client name="h"/>\n  </Group>\n</Groups>`, `<Clients><Client name="h" profile="web"/></Clients>`));
  assert.is(e.code, 'METADATA');
  assert.is(e.location.file, 'Metadata/groups.xml');
  assert.is(e.location.line, 3);
  assert.match(e.message, 'Client name="h"');
});

test('within one pass the first group in document order wins a category; the warning names winner and loser', () => {
  const m = parse(
    `<Groups>
      <Group name="base" profile="true"><Group name="debian"/><Group name="redhat"/></Group>
      <Group name="debian" category="os"/>
      <Group name="redhat" category="os"/>
    </Groups>`,
    `<Clients><Client name="h" profile="base"/></Clients>`,
  );
  assert.equal(client(m, 'h').groups, ['base', 'debian']);
  assert.equal(client(m, 'h').categories, { os: 'debian' });
  const w = m.diagnostics.filter((d) => d.code === 'category-conflict');
  assert.is(w.length, 1);
  assert.match(w[0]!.message, '"redhat"');
  assert.match(w[0]!.message, '"debian"');
  assert.is(w[0]!.host, 'h');
  assert.is(w[0]!.line, 2);
});

test('negated conditionals and negated leaves', () => {
  const m = parse(
    `<Groups>
      <Group name="p" profile="true">
        <Group name="web"/>
        <Group name="db" negate="true"><Group name="not-db"/></Group>
        <Client name="special"><Group name="web" negate="true"/></Client>
      </Group>
      <Group name="db" profile="true"><Group name="p"/></Group>
    </Groups>`,
    `<Clients><Client name="plain" profile="p"/><Client name="special" profile="p"/><Client name="dbhost" profile="db"/></Clients>`,
  );
  assert.equal(client(m, 'plain').groups, ['not-db', 'p', 'web']);
  assert.equal(client(m, 'special').groups, ['not-db', 'p']);
  assert.equal(client(m, 'dbhost').groups, ['db', 'p', 'web']);
});

test('conditions see the groups as of the start of a pass: a group added in the same pass is not yet visible', () => {
  const m = parse(
    `<Groups>
      <Group name="q" profile="true"><Group name="db"/><Group name="db" negate="true"><Group name="not-db"/></Group></Group>
    </Groups>`,
    `<Clients><Client name="h" profile="q"/></Clients>`,
  );
  assert.equal(client(m, 'h').groups, ['db', 'not-db', 'q']);
});

test('only direct Bundle children of the first declaration count; others are warned about', () => {
  const m = parse(
    `<Groups>
      <Group name="web" profile="true"><Bundle name="nginx"/><Group name="extra"><Bundle name="tools"/></Group></Group>
      <Group name="web" category="x"><Bundle name="ignored"/></Group>
      <Client name="h"><Bundle name="also-ignored"/><Group name="extra"/></Client>
    </Groups>`,
    `<Clients><Client name="h" profile="web"/></Clients>`,
  );
  assert.equal(client(m, 'h').bundles, ['nginx', 'tools']);
  const codes = m.diagnostics.map((d) => d.code).sort();
  assert.equal(codes, ['duplicate-group', 'ignored-bundle', 'ignored-bundle']);
  assert.equal(m.groups.find((g) => g.name === 'web')!.category, null);
});

test('a group used under a top-level Client but never declared is a plain member, with a warning', () => {
  const m = parse(`<Groups><Group name="p" profile="true"/><Client name="h"><Group name="probed"/></Client></Groups>`, `<Clients><Client name="h" profile="p"/></Clients>`);
  assert.equal(client(m, 'h').groups, ['p', 'probed']);
  const w = m.diagnostics.find((d) => d.code === 'undeclared-group');
  assert.ok(w);
  assert.match(w!.message, 'probed');
});

test('the last declaring default="true" group is the default, with a warning', () => {
  const m = parse(`<Groups><Group name="a" profile="true" default="true"/><Group name="b" profile="true" default="true"/></Groups>`, `<Clients/>`);
  assert.is(m.defaultGroup, 'b');
  assert.ok(m.diagnostics.some((d) => d.code === 'multiple-default-groups'));
});

test('a membership that never settles is an error instead of looping forever', () => {
  const groups = `<Groups>
    <Group name="p" profile="true">
      <Group name="a" negate="true"><Group name="b" negate="true"><Group name="a"/></Group></Group>
      <Group name="a"><Group name="b"/></Group>
      <Group name="b"><Group name="a" negate="true"/></Group>
      <Group name="a" negate="true"><Group name="b" negate="true"/></Group>
    </Group>
  </Groups>`;
  const e = throws(() => parse(groups, `<Clients><Client name="h" profile="p"/></Clients>`));
  assert.is(e.code, 'METADATA');
  assert.is(e.location.host, 'h');
  assert.match(e.message, 'never settles');
});

test('repeated clients, uuids and aliases: merged, the later owner wins, with warnings', () => {
  const m = parse(
    `<Groups><Group name="p" profile="true"/><Group name="extra" profile="true"/></Groups>`,
    `<Clients>
      <Client name="a" profile="p" uuid="u1" address="10.0.0.1"><Alias name="shared"/></Client>
      <Client name="b" profile="p" uuid="u1"><Alias name="shared"/></Client>
      <Client name="A" profile="extra" address="10.0.0.2" secure="TRUE"/>
    </Clients>`,
  );
  assert.equal(client(m, 'a').groups, ['extra', 'p']);
  assert.equal(client(m, 'a').addresses, ['10.0.0.1', '10.0.0.2']);
  assert.ok(auth(m, 'a').secure);
  assert.is(auth(m, 'a').uuid, null);
  assert.is(auth(m, 'b').uuid, 'u1');
  assert.is(client(m, 'shared').hostname, 'b');
  assert.equal(m.diagnostics.map((d) => d.code).sort(), ['duplicate-alias', 'duplicate-client', 'duplicate-uuid']);
});

test('wrong root elements are errors', () => {
  assert.match(throws(() => parse(`<Group name="x"/>`, `<Clients/>`)).message, 'expected <Groups>');
  assert.match(throws(() => parse(GROUPS, `<Client name="x" profile="web"/>`)).message, 'expected <Clients>');
});

// --- files on disk ---

test('malformed groups.xml is an XML error naming the file and line', () => {
  withRepo({ 'Metadata/groups.xml': '<Groups>\n  <Group name="a">\n</Groups>\n', 'Metadata/clients.xml': '<Clients/>' }, (dir) => {
    const e = throws(() => loadMetadata(dir));
    assert.is(e.code, 'XML');
    assert.is(e.location.file, 'Metadata/groups.xml');
    assert.is(e.location.line, 3);
  });
});

test('a missing groups.xml or clients.xml is a REPO error saying which', () => {
  withRepo({ 'Metadata/clients.xml': '<Clients/>' }, (dir) => {
    const e = throws(() => loadMetadata(dir));
    assert.is(e.code, 'REPO');
    assert.is(e.location.file, 'Metadata/groups.xml');
    assert.match(e.message, 'Metadata/groups.xml is missing');
  });
  withRepo({ 'Metadata/groups.xml': '<Groups/>' }, (dir) => {
    assert.match(throws(() => loadMetadata(dir)).message, 'Metadata/clients.xml is missing');
  });
});

test('XInclude: globbed includes relative to the including file, errors name the included file', () => {
  const files = {
    'Metadata/groups.xml': `<Groups xmlns:xi="http://www.w3.org/2001/XInclude">\n  <Group name="p" profile="true"><Group name="web"/></Group>\n  <xi:include href="groups.d/*.xml"/>\n</Groups>`,
    'Metadata/groups.d/10-web.xml': `<Groups>\n  <Group name="web"><Bundle name="nginx"/></Group>\n</Groups>`,
    'Metadata/groups.d/20-db.xml': `<Groups><Group name="db" profile="true"/></Groups>`,
    'Metadata/clients.xml': `<Clients xmlns:inc="http://www.w3.org/2001/XInclude"><inc:include href="hosts/web.xml"/><inc:include href="hosts/none.xml"><inc:fallback><Client name="fb" profile="db"/></inc:fallback></inc:include></Clients>`,
    'Metadata/hosts/web.xml': `<Clients><Client name="w1" profile="p"/></Clients>`,
  };
  withRepo(files, (dir) => {
    const m = loadMetadata(dir);
    assert.equal(m.clients.map((c) => c.hostname), ['fb', 'w1']);
    assert.equal(client(m, 'w1').bundles, ['nginx']);
    assert.equal(m.groups.find((g) => g.name === 'web')!.file, 'Metadata/groups.d/10-web.xml');
  });
  withRepo({ ...files, 'Metadata/groups.d/20-db.xml': `<Groups>\n<Group name="db" profile="true">\n</Groups>` }, (dir) => {
    const e = throws(() => loadMetadata(dir));
    assert.is(e.location.file, 'Metadata/groups.d/20-db.xml');
    assert.is(e.location.line, 3);
  });
  withRepo({ ...files, 'Metadata/hosts/web.xml': `<Clients>\n<Client name="w1" profile="nope"/></Clients>` }, (dir) => {
    const e = throws(() => loadMetadata(dir));
    assert.equal([e.location.file, e.location.line, e.location.host], ['Metadata/hosts/web.xml', 2, 'w1']);
  });
});

test('XInclude: a missing file without fallback is a warning; a file outside the repo or a loop is an error', () => {
  const groups = (href: string) => `<Groups xmlns:xi="http://www.w3.org/2001/XInclude"><Group name="p" profile="true"/><xi:include href="${href}"/></Groups>`;
  const clients = `<Clients><Client name="h" profile="p"/></Clients>`;
  withRepo({ 'Metadata/groups.xml': groups('nothing-*.xml'), 'Metadata/clients.xml': clients }, (dir) => {
    assert.ok(loadMetadata(dir).diagnostics.some((d) => d.code === 'xinclude-no-match' && d.file === 'Metadata/groups.xml'));
  });
  withRepo({ 'Metadata/groups.xml': groups('../outside.xml'), 'Metadata/clients.xml': clients, 'outside.xml': '<Groups/>' }, (dir) => {
    loadMetadata(dir); // inside the repo, one level up from Metadata/: fine
  });
  const t = tempDir('bindery-outside-');
  try {
    writeFileSync(join(t.dir, 'x.xml'), '<Groups/>');
    withRepo({ 'Metadata/groups.xml': groups(join(t.dir, 'x.xml')), 'Metadata/clients.xml': clients }, (dir) => {
      const e = throws(() => loadMetadata(dir));
      assert.is(e.code, 'REPO');
      assert.match(e.message, 'outside the repository');
    });
  } finally {
    t.cleanup();
  }
  withRepo({ 'Metadata/groups.xml': groups('groups.xml'), 'Metadata/clients.xml': clients }, (dir) => {
    assert.match(throws(() => loadMetadata(dir)).message, 'XInclude loop');
  });
});

test('parsing text alone does not follow XInclude and says so', () => {
  const m = parse(`<Groups xmlns:xi="http://www.w3.org/2001/XInclude"><Group name="p" profile="true"/><xi:include href="more.xml"/></Groups>`, `<Clients/>`);
  assert.ok(m.diagnostics.some((d) => d.code === 'xinclude-ignored'));
});

// --- Probes/probed.xml ---

const PROBE_GROUPS = `<Groups>
  <Group name="web" profile="true"><Bundle name="nginx"/></Group>
  <Group name="vm"><Bundle name="guest-tools"/><Group name="monitored"/></Group>
  <Group name="staging" category="env"/>
  <Group name="production" category="env"/>
  <Group name="web"><Group name="production"/></Group>
</Groups>`;

const probed = (text: string) => parseMetadata({ text: PROBE_GROUPS, file: 'Metadata/groups.xml' }, { text: '<Clients><Client name="Web1" profile="web"/><Client name="web2" profile="web"/></Clients>', file: 'Metadata/clients.xml' }, { text, file: 'Probes/probed.xml' });

test('probed.xml: probe values are the client\'s, probe groups join its groups and go through the fixpoint, choosing bundles', () => {
  const m = probed(`<Probed>
  <Client name="WEB1" timestamp="1">
    <Probe name="arch" value="x86_64"/>
    <Probe name="empty" value=""/>
    <Group name="vm"/>
    <Group name="staging"/>
  </Client>
  <Client name="ghost" timestamp="1"><Group name="vm"/></Client>
</Probed>`);
  const web1 = client(m, 'web1');
  assert.equal(web1.probes, { arch: 'x86_64', empty: '' });
  assert.equal(web1.groups, ['monitored', 'production', 'vm', 'web'], 'vm pulls in monitored; staging loses the env category to production');
  assert.equal(web1.bundles, ['guest-tools', 'nginx']);
  assert.is(client(m, 'web2').probes, undefined);
  assert.equal(client(m, 'web2').groups, ['production', 'web']);
  assert.ok(m.diagnostics.some((d) => d.code === 'category-conflict' && d.host === 'web1' && d.message.includes('"staging"')));
  assert.ok(m.diagnostics.some((d) => d.code === 'probes-unknown-client' && d.host === 'ghost'));
});

test('a malformed probed.xml is an error naming the file and line; a wrong root says what the file should be', () => {
  const e = throws(() => probed('<Probed>\n<Client name="a">\n</Probed>'));
  assert.equal([e.code, e.location.file, e.location.line], ['XML', 'Probes/probed.xml', 3]);
  const root = throws(() => probed('<Probes/>'));
  assert.match(root.message, 'expected <Probed>');
});

test.run();
