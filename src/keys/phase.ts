import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { BinderyError, type Diagnostic } from '../errors.js';
import type { Config } from '../config/index.js';
import type { RepoModel } from '../repo/index.js';
import { decryptAny, encryptText, passphraseNamed, passphrases } from '../secrets/index.js';
import { newFindings } from './findings.js';
import { loadPrivateKey, newKey, privateKeyText, publicKeyId, publicKeyLine } from './material.js';
import { planKeys, type KeyNeed, type SshJob } from './plan.js';
import { runSslJob, type KeyRunContext } from './ssl-run.js';
import { createExclusive, explainWriteError, readIfExists, replaceAtomic } from './write.js';

export type { KeyNeed } from './plan.js';

export interface KeyPhaseResult {
  /**
   * Repo-relative files new since the scan, sorted: the ones this run wrote, and the ones a
   * concurrent build wrote first and this run adopted. The model is stale when non-empty.
   */
  readonly written: readonly string[];
  /** The subset of `written` that another build wrote (a lost race; its key is used). */
  readonly adopted: readonly string[];
  /** Every finding, warnings and failures alike. */
  readonly diagnostics: readonly Diagnostic[];
  /** The subset of diagnostics that are failures: a key some client needs was not generated. */
  readonly failed: readonly Diagnostic[];
}


/**
 * The key phase (ARCHITECTURE "keys"): plan every key and certificate some client needs and
 * lacks (plan.ts, no I/O), then make each once, concurrently, writing it into the repository
 * under Bcfg2's names. Nothing to do → nothing written.
 */
export async function generateKeys(repo: RepoModel, needs: readonly KeyNeed[], config: Config, env: NodeJS.ProcessEnv, opts: { jobs?: number } = {}): Promise<KeyPhaseResult> {
  const list = passphrases(config, env);
  const findings = newFindings();
  const plan = planKeys(repo, needs, config, list, findings);
  const written: string[] = [];
  const adopted: string[] = [];
  const decrypted = new Map<string, Buffer>();
  const ctx: KeyRunContext = {
    repo,
    config,
    passphrases: list,
    findings,
    wrote: (rel) => void written.push(rel),
    adopt: (rel) => void (repo.files.has(rel) || adopted.push(rel)),
    readPrivate(rel, data, encrypted) {
      if (!encrypted) return data;
      let plain = decrypted.get(rel);
      if (!plain) decrypted.set(rel, (plain = decryptAny(data, list, { requireUtf8: true, file: rel })));
      return plain;
    },
  };
  const limit = pLimit(Math.max(1, opts.jobs ?? availableParallelism()));
  const tasks = [...plan.ssh.map((j) => () => runSshJob(j, ctx)), ...plan.ssl.map((j) => () => runSslJob(j, ctx))];
  await Promise.all(tasks.map((t) => limit(t)));
  return { written: [...written, ...adopted].sort(), adopted: adopted.sort(), diagnostics: findings.diagnostics(), failed: findings.failed() };
}

/** Write a public key line; one already there for the same key is kept, one for another key replaced. */
async function writePublic(ctx: KeyRunContext, pubRel: string, line: string): Promise<void> {
  const abs = join(ctx.repo.root, pubRel);
  if (await createExclusive(abs, line, 0o644)) {
    ctx.wrote(pubRel);
    return;
  }
  const existing = await readIfExists(abs);
  if (existing && publicKeyId(existing.toString('utf8')) === publicKeyId(line)) return ctx.adopt(pubRel);
  await replaceAtomic(abs, line, 0o644);
  ctx.wrote(pubRel);
  ctx.findings.warn({ code: 'key-public-replaced', message: 'the public key did not belong to the private key; replaced', file: pubRel });
}

/** Make one SSH key pair (or the public half of an existing private key) and write it. */
async function runSshJob(job: SshJob, ctx: KeyRunContext): Promise<void> {
  const { config } = ctx;
  try {
    if (job.mode === 'derive') {
      const src = job.source!;
      if (src.kind !== 'plain' && src.kind !== 'crypt') {
        throw new BinderyError('KEYS', `cannot derive a public key from a ${src.kind} file`, { file: src.file.rel }, `create ${job.pubRel} by hand, or make the private key a plain or .crypt file`);
      }
      const key = loadPrivateKey(ctx.readPrivate(src.file.rel, src.file.data, src.kind === 'crypt'), job.spec.passphrase, src.file.rel);
      await writePublic(ctx, job.pubRel, publicKeyLine(key, job.pubRel));
      return;
    }
    const secret = config.sshkeys.passphrase ? passphraseNamed(ctx.passphrases, config.sshkeys.passphrase, { file: config.file ?? 'bcfg2.conf' }).secret : null;
    let key = await newKey(job.spec);
    const text = privateKeyText(key, job.spec.passphrase, job.pubRel);
    const abs = join(ctx.repo.root, job.privRel);
    if (await createExclusive(abs, secret === null ? text : encryptText(text, secret), 0o600)) {
      ctx.wrote(job.privRel);
    } else {
      // Another build wrote this key first: adopt its key so both builds agree.
      const theirs = await readIfExists(abs);
      if (!theirs) throw new BinderyError('KEYS', 'the key file vanished while being written', { file: job.privRel }, 'run the build again');
      key = loadPrivateKey(ctx.readPrivate(job.privRel, theirs, secret !== null), job.spec.passphrase, job.privRel);
      ctx.findings.warn({ code: 'key-adopted', message: 'another build wrote this key first; using its key', file: job.privRel });
      ctx.adopt(job.privRel);
    }
    await writePublic(ctx, job.pubRel, publicKeyLine(key, job.pubRel));
  } catch (e) {
    ctx.findings.fail(job.origin, explainWriteError(e, job.privRel));
  }
}
