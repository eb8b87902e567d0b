/**
 * Cost of the build head's hosts tree, which the build and `bindery serve` compute once per build:
 * building the tree, one host's proof (steps and header bytes), and every host's proof.
 *
 *   node --import tsx scripts/bench-head.ts [--hosts N]
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { hostsTree, merkleProof } from '../src/protocol/head.ts';

const { values } = parseArgs({ options: { hosts: { type: 'string', default: '20000' } } });
const n = Number(values.hosts);
const hosts = Object.fromEntries(Array.from({ length: n }, (_, i) => [`host${i}.example.com`, { record: createHash('sha256').update(String(i)).digest('hex') }]));
const t0 = performance.now();
const { levels } = hostsTree(hosts);
const t1 = performance.now();
const proof = merkleProof(levels, n >> 1);
for (let i = 0; i < n; i++) merkleProof(levels, i);
const t2 = performance.now();
const header = Buffer.from(JSON.stringify(proof)).toString('base64').length;
console.log(`${n} hosts: tree ${(t1 - t0).toFixed(0)} ms; a proof is ${proof.length} steps, a ${header}-byte header; all ${n} proofs ${(t2 - t1).toFixed(0)} ms`);
