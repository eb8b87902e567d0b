/**
 * The build head's Merkle tree over (host, record sha256) pairs: roots, proofs for every host at
 * several tree sizes (odd ones carry a node up), and proofs that must not verify.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { hostLeaf, hostsTree, merkleProof, merkleRoot, parseBuildHead, verifyMerkleProof } from '../src/protocol/head.ts';

const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const recordOf = (host: string) => createHash('sha256').update(`record of ${host}`).digest('hex');
const hostsOf = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`h${String(i).padStart(2, '0')}`, { record: recordOf(`h${i}`) }]));

test('the root of three hosts is the domain-separated hash written out by hand, the odd third carried up', () => {
  const leaf = (h: string, r: string) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(Buffer.byteLength(h));
    return sha(Buffer.from([0]), len, Buffer.from(h), Buffer.from(r, 'hex'));
  };
  const node = (a: Buffer, b: Buffer) => sha(Buffer.from([1]), a, b);
  const hosts = { c: { record: recordOf('c') }, a: { record: recordOf('a') }, b: { record: recordOf('b') } };
  const want = node(node(leaf('a', recordOf('a')), leaf('b', recordOf('b'))), leaf('c', recordOf('c')));
  const { names, levels } = hostsTree(hosts);
  assert.equal(names, ['a', 'b', 'c'], 'leaves in sorted host order, whatever order the hosts come in');
  assert.is(merkleRoot(levels), want.toString('hex'));
  assert.is(merkleRoot(hostsTree({}).levels), sha().toString('hex'), 'no hosts: the root is sha256 of nothing');
});

test('every host\'s proof verifies against the root, at tree sizes 1 to 9, and is at most log2(n) rounded up steps long', () => {
  for (let n = 1; n <= 9; n++) {
    const hosts = hostsOf(n);
    const { names, levels } = hostsTree(hosts);
    const root = merkleRoot(levels);
    names.forEach((h, i) => {
      const proof = merkleProof(levels, i);
      assert.ok(proof.length <= Math.ceil(Math.log2(n)), `n=${n} ${h}: ${proof.length} steps`);
      assert.ok(verifyMerkleProof(hostLeaf(h, hosts[h]!.record), proof, root), `n=${n} ${h}`);
    });
  }
});

test('a proof does not verify for another record, another host, a changed step, a swapped side or another root', () => {
  const hosts = hostsOf(6);
  const { levels } = hostsTree(hosts);
  const root = merkleRoot(levels);
  const proof = merkleProof(levels, 2);
  const leaf = hostLeaf('h02', hosts.h02!.record);
  assert.ok(verifyMerkleProof(leaf, proof, root));
  assert.not.ok(verifyMerkleProof(hostLeaf('h02', recordOf('an older record')), proof, root), 'another record of the same host');
  assert.not.ok(verifyMerkleProof(hostLeaf('h03', hosts.h02!.record), proof, root), 'the same record under another name');
  const flipped = proof.map((s, i) => (i === 0 ? (`${s[0]}:${s[2] === '0' ? '1' : '0'}${s.slice(3)}` as const) : s));
  assert.not.ok(verifyMerkleProof(leaf, flipped, root), 'a changed sibling hash');
  const swapped = proof.map((s, i) => (i === 0 ? (`${s[0] === 'l' ? 'r' : 'l'}${s.slice(1)}` as const) : s));
  assert.not.ok(verifyMerkleProof(leaf, swapped, root), 'a sibling on the wrong side');
  assert.not.ok(verifyMerkleProof(leaf, proof, merkleRoot(hostsTree(hostsOf(7)).levels)), 'the root of another build');
  assert.not.ok(verifyMerkleProof(leaf, proof.slice(1), root), 'a step left out');
});

test('a malformed proof from the server is simply not a proof', () => {
  const { levels } = hostsTree(hostsOf(2));
  const root = merkleRoot(levels);
  const leaf = hostLeaf('h00', recordOf('h0'));
  for (const bad of [null, 'l:00', {}, [42], ['x:' + '0'.repeat(64)], ['l:' + 'g'.repeat(64)], ['l:abc'], Array(65).fill('l:' + '0'.repeat(64))]) {
    assert.not.ok(verifyMerkleProof(leaf, bad, root), JSON.stringify(bad).slice(0, 40));
  }
});

test('host names are length-prefixed in leaves, so a name and record cannot be re-split into another pair', () => {
  const r = 'ab'.repeat(32);
  assert.is.not(hostLeaf('web1', r).toString('hex'), hostLeaf('web', r).toString('hex'));
  assert.is.not(hostLeaf('a\u0000', r).toString('hex'), hostLeaf('a', r).toString('hex'));
});

test('parseBuildHead takes a well-formed head and names the field of a malformed one', () => {
  const head = { format: 'bindery-build-head-1', serial: 7, builtAt: '2026-12-07T00:00:00.000Z', revision: null, keyId: '0123456789abcdef', hostsRoot: 'a'.repeat(64) };
  assert.equal(parseBuildHead(Buffer.from(JSON.stringify(head))), head);
  const cases: [unknown, RegExp][] = [
    ['not json', /not JSON/],
    [[], /not a JSON object/],
    [{ ...head, format: 'bindery-build-head-9' }, /of format "bindery-build-head-9"/],
    [{ ...head, serial: -1 }, /no valid serial/],
    [{ ...head, builtAt: 'yesterday' }, /no valid build time/],
    [{ ...head, revision: 3 }, /malformed revision/],
    [{ ...head, keyId: 'xyz' }, /no valid key id/],
    [{ ...head, hostsRoot: 'short' }, /no valid hosts root/],
    [{ ...head, keyChain: {} }, /key chain is not a list/],
  ];
  for (const [value, message] of cases) {
    const bytes = Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
    assert.throws(() => parseBuildHead(bytes), message);
  }
});

test.run();
