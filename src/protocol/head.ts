/**
 * The build head: a small signed statement per build of what host records cannot say (they must
 * stay byte-identical while a host's result does not change): the build's serial and time, and
 * which record is each host's. It commits to the manifest's (host, record sha256) pairs through
 * the root of a Merkle tree, so the server hands each host the head and a proof of a few hashes
 * (O(log hosts)) instead of the whole manifest, and never needs the signing key.
 *
 * Hashing is domain-separated (a leaf byte 0x00, a node byte 0x01, as RFC 6962 does), so an inner
 * node can never pass for a leaf. Leaves are in the manifest's host order (sorted); a level with
 * an odd count carries its last node up unchanged.
 */
import { createHash } from 'node:crypto';
import type { SignedRotation } from './rotation.js';

export const HEAD_FORMAT = 'bindery-build-head-1';

export interface BuildHead {
  readonly format: typeof HEAD_FORMAT;
  /** The manifest's serial: grows with every build published to an output directory. */
  readonly serial: number;
  readonly builtAt: string;
  readonly revision: string | null;
  /** The signing key's short id (16 hex digits of the sha256 of its SPKI DER). */
  readonly keyId: string;
  /** Merkle root (hex) over the build's sorted (host, record sha256) pairs. */
  readonly hostsRoot: string;
  /** The key rotation chain leading to the signing key, when it was rotated. */
  readonly keyChain?: readonly SignedRotation[];
}

/** One step of an inclusion proof: the sibling hash (hex) and whether it sits left or right. */
export type ProofStep = `${'l' | 'r'}:${string}`;

const sha256 = (...parts: Buffer[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);
const SHA256_RE = /^[0-9a-f]{64}$/;

/** The leaf of one host: its name length-prefixed (so no two pairs encode alike), then its record's hash. */
export function hostLeaf(host: string, recordSha256: string): Buffer {
  const name = Buffer.from(host, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(name.length);
  return sha256(LEAF, len, name, Buffer.from(recordSha256, 'hex'));
}

const node = (left: Buffer, right: Buffer) => sha256(NODE, left, right);

/** Every level of the tree, leaves first, root last (the empty tree's root is sha256 of nothing). */
function merkleLevels(leaves: readonly Buffer[]): Buffer[][] {
  const levels: Buffer[][] = [leaves.length ? [...leaves] : [sha256()]];
  for (let level = levels[0]!; level.length > 1; ) {
    const up: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? node(level[i]!, level[i + 1]!) : level[i]!);
    levels.push((level = up));
  }
  return levels;
}

export function merkleRoot(levels: readonly (readonly Buffer[])[]): string {
  return levels.at(-1)![0]!.toString('hex');
}

/** The siblings from leaf `index` up to the root: O(log n). */
export function merkleProof(levels: readonly (readonly Buffer[])[], index: number): ProofStep[] {
  const proof: ProofStep[] = [];
  for (let l = 0, i = index; l < levels.length - 1; l++, i >>= 1) {
    const sibling = i ^ 1;
    const level = levels[l]!;
    if (sibling < level.length) proof.push(`${sibling < i ? 'l' : 'r'}:${level[sibling]!.toString('hex')}`);
  }
  return proof;
}

/** Whether `proof` leads from `leaf` to `root`; a malformed proof (from the server, unsigned) is simply false. */
export function verifyMerkleProof(leaf: Buffer, proof: unknown, root: string): boolean {
  if (!Array.isArray(proof) || proof.length > 64) return false;
  let h = leaf;
  for (const step of proof as unknown[]) {
    if (typeof step !== 'string' || !/^[lr]:/.test(step) || !SHA256_RE.test(step.slice(2))) return false;
    const sibling = Buffer.from(step.slice(2), 'hex');
    h = step[0] === 'l' ? node(sibling, h) : node(h, sibling);
  }
  return h.toString('hex') === root;
}

/** The tree of a manifest's hosts (any order in, sorted by name as the manifest sorts them). */
export function hostsTree(hosts: Readonly<Record<string, { readonly record: string }>>): { names: string[]; levels: Buffer[][] } {
  const names = Object.keys(hosts).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { names, levels: merkleLevels(names.map((h) => hostLeaf(h, hosts[h]!.record))) };
}

/** A head's bytes, checked; the Error's message says what is wrong (the caller adds where it came from). */
export function parseBuildHead(json: Buffer): BuildHead {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json.toString('utf8'));
  } catch {
    throw new Error('the build head is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the build head is not a JSON object');
  const h = parsed as Partial<Record<keyof BuildHead, unknown>>;
  if (h.format !== HEAD_FORMAT) throw new Error(`the build head is of format ${JSON.stringify(h.format)}, not ${HEAD_FORMAT}`);
  if (typeof h.serial !== 'number' || !Number.isSafeInteger(h.serial) || h.serial < 0) throw new Error('the build head has no valid serial');
  if (typeof h.builtAt !== 'string' || Number.isNaN(Date.parse(h.builtAt))) throw new Error('the build head has no valid build time');
  if (h.revision !== null && typeof h.revision !== 'string') throw new Error('the build head has a malformed revision');
  if (typeof h.keyId !== 'string' || !/^[0-9a-f]{16}$/.test(h.keyId)) throw new Error('the build head has no valid key id');
  if (typeof h.hostsRoot !== 'string' || !SHA256_RE.test(h.hostsRoot)) throw new Error('the build head has no valid hosts root');
  if (h.keyChain !== undefined && !Array.isArray(h.keyChain)) throw new Error('the build head\'s key chain is not a list');
  return h as BuildHead;
}
