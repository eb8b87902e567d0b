import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseXml, xmlMatch, flatMatch, clientConditions } from '../src/xml/index.ts';
import { BinderyError } from '../src/errors.ts';

const names = (els: readonly { name: string; attrs: Record<string, string>; children: readonly unknown[] }[]): string[] =>
  els.map((e) => e.attrs.id ?? e.name);

test('malformed XML is an error naming the file and line', () => {
  try {
    parseXml('<Groups>\n  <Group name="a">\n</Groups>\n', 'Metadata/groups.xml');
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.instance(e, BinderyError);
    const err = e as BinderyError;
    assert.is(err.code, 'XML');
    assert.is(err.location.file, 'Metadata/groups.xml');
    assert.is(err.location.line, 3);
  }
});

test('elements keep their line numbers', () => {
  const root = parseXml('<A>\n\n  <B x="1"/>\n</A>', 'f.xml');
  assert.is(root.children[0]!.line, 3);
  assert.equal(root.children[0]!.attrs, { x: '1' });
});

test('XMLMatch puts unconditional children first, then matching containers in place', () => {
  const xml = `<R>
    <E id="A1"/>
    <Group name="G1"><E id="A2"/><E id="A3"/><Group name="G2"><E id="A4"/></Group><E id="A5"/></Group>
    <E id="A6"/>
    <Group name="Gx"><E id="X"/></Group>
    <Group name="G2"><E id="A7"/></Group>
    <E id="A8"><Group name="G1"><E id="O1"/></Group><E id="O2"/></E>
    <Client name="c"><E id="A9"/><E id="A10"/></Client>
  </R>`;
  const m = xmlMatch(parseXml(xml, 'x.xml'), clientConditions({ hostname: 'c', groups: ['G1', 'G2'] }));
  assert.equal(names(m.children), ['A1', 'A6', 'A8', 'A2', 'A3', 'A4', 'A5', 'A7', 'A9', 'A10']);
  assert.equal(names(m.children[2]!.children), ['O2', 'O1']);
});

test('Match flattens in document order and honours negate', () => {
  const xml = `<R><Group name="a"><E id="1"/></Group><E id="2"/><Group name="b" negate="TRUE"><E id="3"/></Group><Client name="x" negate="true"><E id="4"/></Client></R>`;
  const m = flatMatch(parseXml(xml, 'x.xml'), clientConditions({ hostname: 'x', groups: ['a'] }));
  assert.equal(names(m), ['1', '2', '3']);
});

test.run();
