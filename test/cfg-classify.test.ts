import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareSpecificity, matches } from '../src/repo/index.ts';
import { classifyFile } from '../src/repo/classify.ts';
import type { Specificity } from '../src/types.ts';

const kindOf = (name: string, base = 'fstab') => {
  const c = classifyFile(base, name);
  return c === null || c === 'ignored' ? c : `${c.kind}/${c.specificity.kind}${c.specificity.kind === 'group' ? `:${c.specificity.group}:${c.specificity.prio}` : c.specificity.kind === 'host' ? `:${c.specificity.host}` : ''}`;
};

test('specific file names are accepted as Bcfg2 does', () => {
  assert.is(kindOf('fstab'), 'plain/all');
  assert.is(kindOf('fstab.G20_foo'), 'plain/group:foo:20');
  assert.is(kindOf('fstab.G1_foo'), 'plain/group:foo:1');
  assert.is(kindOf('fstab.G32768_foo'), 'plain/group:foo:32768');
  assert.is(kindOf('fstab.G10__'), 'plain/group:_:10');
  assert.is(kindOf('fstab.H_hostname'), 'plain/host:hostname');
  assert.is(kindOf('fstab.H_fqdn.subdomain.example.com'), 'plain/host:fqdn.subdomain.example.com');
  assert.is(kindOf('fstab.G20_group_with_underscores'), 'plain/group:group_with_underscores:20');
});

test('malformed specific names belong to no handler', () => {
  for (const name of ['fstab.G20_group with spaces', 'fstab.G_foo', 'fstab.G_', 'fstab.G20_', 'fstab.H_', 'bogus', 'fstab.orig', 'README', 'fstab.genshi.H_x']) {
    assert.is(classifyFile('fstab', name), null, name);
  }
});

test('the worked classification of Bcfg2', () => {
  assert.is(kindOf('fstab.genshi'), 'genshi/all');
  assert.is(kindOf('fstab.H_h.example.com.genshi'), 'genshi/host:h.example.com');
  assert.is(kindOf('fstab.G10_x.cheetah'), 'cheetah/group:x:10');
  assert.is(kindOf('fstab.crypt'), 'crypt/all');
  assert.is(kindOf('fstab.G10_x.crypt'), 'crypt/group:x:10');
  assert.is(kindOf('fstab.crypt.genshi'), 'genshi.crypt/all');
  assert.is(kindOf('fstab.genshi.crypt'), 'genshi.crypt/all');
  assert.is(kindOf('fstab.H_h.crypt.cheetah'), 'cheetah.crypt/host:h');
  assert.is(kindOf('fstab.G01_x.cat'), 'cat/group:x:1');
  assert.is(kindOf('fstab.H_h.diff'), 'diff/host:h');
  assert.is(kindOf('fstab.G50_web.liquid'), 'liquid/group:web:50');
  assert.is(kindOf('fstab.G50_a.H_b'), 'plain/group:a.H_b:50');
  assert.is(kindOf('fstab.H_a.G50_b'), 'plain/host:a.G50_b');
  assert.is(kindOf(':test.G50_web'), 'test/group:web:50');
  assert.is(kindOf(':test.H_h'), 'test/host:h');
  assert.is(kindOf('info.xml'), 'info.xml/all');
  assert.is(kindOf(':info'), 'legacy-info/all');
  assert.is(kindOf('privkey.xml', 'id_rsa'), 'privkey.xml/all');
  assert.is(kindOf('authorizedkeys.xml', 'authorized_keys'), 'authorized_keys.xml/all');
});

test('template includes are ignored, not unknown', () => {
  assert.is(classifyFile('fstab', 'fstab.genshi_include'), 'ignored');
  assert.is(classifyFile('fstab', 'x.genshi_include.genshi_include'), 'ignored');
  assert.is(classifyFile('fstab', 'fstab.H_h.genshi_include'), 'ignored');
});

const all: Specificity = { kind: 'all' };
const g10: Specificity = { kind: 'group', group: 'a', prio: 10 };
const g20: Specificity = { kind: 'group', group: 'b', prio: 20 };
const g20c: Specificity = { kind: 'group', group: 'c', prio: 20 };
const host: Specificity = { kind: 'host', host: 'h' };

test('specificity orders all < group by priority < host; equal priorities tie', () => {
  assert.ok(compareSpecificity(g10, all) > 0);
  assert.ok(compareSpecificity(g20, g10) > 0);
  assert.ok(compareSpecificity(host, g20) > 0);
  assert.is(compareSpecificity(g20, g20c), 0);
  assert.is(compareSpecificity(host, { kind: 'host', host: 'other' }), 0);
});

test('a specificity matches all clients, members of its group, or its host', () => {
  const m = { hostname: 'h', groups: ['a'] };
  assert.ok(matches(all, m));
  assert.ok(matches(g10, m));
  assert.not.ok(matches(g20, m));
  assert.ok(matches(host, m));
  assert.not.ok(matches(host, { hostname: 'H', groups: [] }));
});

test.run();
