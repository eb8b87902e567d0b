import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { BinderyError, asBinderyError, type Diagnostic, type Location } from '../errors.js';
import type { Config } from '../config/index.js';
import { compareSpecificity, matches, specificitySuffix, type RepoModel } from '../repo/index.js';
import { decryptAny, encryptText, passphraseNamed, passphrases } from '../secrets/index.js';
import type { XmlElement } from '../xml/index.js';
import type { CfgFile, ClientMetadata, EntrySet } from '../types.js';
import { groupStandIn } from '../metadata/index.js';
import { allowTargets, matchingAllows, parseAuthorizedKeys, type AllowContext } from './authorized.js';
import { keySpecFor, parsePrivKey, type KeySpec, type PrivKeyFile } from './spec.js';
import { loadPrivateKey, newKey, privateKeyText, publicKeyId, publicKeyLine } from './material.js';
import { createExclusive, explainWriteError, readIfExists, replaceAtomic } from './write.js';
import { planSsl } from './ssl.js';

/** One client and the Path names planned for it. */
export interface KeyNeed {
  readonly metadata: ClientMetadata;
  readonly paths: readonly string[];
}

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

/** Who asked, for messages: the client, the entry it asked for, and the file that led there. */
export type Origin = Required<Pick<Location, 'host' | 'path'>> & Pick<Location, 'file' | 'line'>;

/** One pair of files to produce: a new key pair, or the public half of an existing private key. */
interface Job {
  readonly mode: 'generate' | 'derive';
  readonly spec: KeySpec;
  readonly privRel: string;
  readonly pubRel: string;
  /** derive: the private key file the public key comes from. */
  readonly source?: CfgFile;
  readonly origin: Origin;
  /** The privkey.xml it comes from. */
  readonly privKeyFile: string;
  /** Asked for on behalf of a group stand-in (authorized_keys group=), not a real client. */
  readonly synthetic: boolean;
}

/**
 * The key phase (ARCHITECTURE "keys"): find every (key, host or group) some client needs and
 * lacks, generate each once, concurrently, and write it into the repository under Bcfg2's
 * names. A client needs a key when its paths include a privkey.xml entry set, a
 * pubkey.xml one, or an authorized_keys.xml whose Allows point at a pubkey.xml path — and no
 * existing generator of that entry set matches it. sslkey.xml / sslcert.xml entries get each
 * client its own key the same way, and a certificate from the configured CA for the key it
 * gets, new or existing (ssl.ts).
 * Nothing to do → nothing written.
 */
export async function generateKeys(repo: RepoModel, needs: readonly KeyNeed[], config: Config, env: NodeJS.ProcessEnv, opts: { jobs?: number } = {}): Promise<KeyPhaseResult> {
  const list = passphrases(config, env);
  const diagnostics = new Map<string, Diagnostic>();
  const failed = new Map<string, Diagnostic>();
  const warn = (d: Diagnostic) => diagnostics.set(JSON.stringify(d), d);
  const fail = (origin: Origin, e: unknown) => {
    const err = asBinderyError(e, 'KEYS');
    const where = Object.fromEntries(Object.entries(err.location).filter(([, v]) => v !== undefined));
    // A problem in another file than the one that asked: the asker's line means nothing there.
    const asker = where.file !== undefined && where.file !== origin.file ? { host: origin.host, path: origin.path } : origin;
    const d: Diagnostic = { code: 'key-not-generated', ...asker, ...where, message: err.message + (err.hint ? ` (${err.hint})` : '') };
    warn(d);
    failed.set(JSON.stringify(d), d);
  };

  const clients = needs.map((n) => n.metadata);
  const byName = new Map(clients.map((c) => [c.hostname, c]));
  const groupCache = new Map<string, ClientMetadata>();
  const allowCtx: AllowContext = {
    clients,
    findClient: (name) => byName.get(name),
    groupMetadata: (g) => groupCache.get(g) ?? groupCache.set(g, groupStandIn(g, clients)).get(g)!,
    config,
  };
  const written: string[] = [];
  const adopted: string[] = [];
  const adopt = (rel: string) => {
    if (!repo.files.has(rel)) adopted.push(rel);
  };
  const decrypted = new Map<string, Buffer>();
  const readPrivate = (rel: string, data: Buffer, encrypted: boolean): Buffer => {
    if (!encrypted) return data;
    let plain = decrypted.get(rel);
    if (!plain) decrypted.set(rel, (plain = decryptAny(data, list, { requireUtf8: true, file: rel })));
    return plain;
  };
  const ssl = planSsl({ repo, config, passphrases: list, warn, fail, wrote: (rel) => written.push(rel), adopt, readPrivate });
  const privKeys = new Map<string, PrivKeyFile | BinderyError>();
  const authKeys = new Map<string, XmlElement | null>();
  const jobs = new Map<string, Job>();

  const addJob = (job: Job) => {
    const prev = jobs.get(job.pubRel);
    if (!prev) {
      jobs.set(job.pubRel, job);
      return;
    }
    const differ = prev.spec.type !== job.spec.type || prev.spec.bits !== job.spec.bits || prev.spec.passphrase !== job.spec.passphrase;
    if (differ && !prev.synthetic && !job.synthetic) {
      warn({ code: 'key-spec-conflict', message: `${prev.origin.host} and ${job.origin.host} get different parameters (Params, Passphrase) for the same key ${job.privRel}; using ${prev.origin.host}'s`, file: job.privKeyFile, host: job.origin.host });
    }
    // A client that receives the private key decides its parameters over a group stand-in,
    // and a new pair beats deriving the public half from some other private key.
    if ((prev.synthetic && !job.synthetic) || (prev.mode === 'derive' && job.mode === 'generate')) jobs.set(job.pubRel, job);
  };

  /** What client `as` needs for the private key entry privPath, or for its .pub entry when wantPublic. */
  const request = (privPath: string, as: ClientMetadata, wantPublic: boolean, origin: Origin, synthetic: boolean) => {
    const privSet = repo.entrySets.get(privPath);
    const pkFile = privSet?.creators.find((c) => c.kind === 'privkey.xml');
    if (!privSet || !pkFile) {
      fail(origin, new BinderyError('KEYS', `pubkey.xml needs a privkey.xml in Cfg${privPath}/ (there is none)`, { file: `Cfg${privPath}.pub/pubkey.xml` }, `create Cfg${privPath}/privkey.xml, or remove pubkey.xml`));
      return;
    }
    const privMatches = privSet.generators.filter((g) => matches(g.specificity, as));
    const pubSet = repo.entrySets.get(privPath + '.pub');
    // Creators run only when no generator of the requested entry set matches.
    const present = wantPublic ? (pubSet?.generators.some((g) => matches(g.specificity, as)) ?? false) : privMatches.length > 0;
    if (present) return;
    let pk = privKeys.get(pkFile.file.rel);
    if (!pk) {
      try {
        pk = parsePrivKey(pkFile);
      } catch (e) {
        pk = asBinderyError(e, 'KEYS', { file: pkFile.file.rel });
      }
      privKeys.set(pkFile.file.rel, pk);
    }
    try {
      if (pk instanceof BinderyError) throw pk;
      const spec = keySpecFor(pk, as, config, list, (d) => warn({ path: origin.path, ...d }));
      if (!spec) return;
      if (synthetic && spec.specificity.kind === 'host') {
        warn({ code: 'key-no-group-key', message: `group ${as.profile} is in no key category, so it has no group key to generate for ${privPath}.pub`, ...origin });
        return;
      }
      const suffix = specificitySuffix(spec.specificity);
      const privRel = `${privSet.dir}/${privSet.basename}${suffix}${config.sshkeys.passphrase ? '.crypt' : ''}`;
      const pubRel = `${privSet.dir}.pub/${privSet.basename}.pub${suffix}`;
      const common = { spec, privRel, pubRel, origin, privKeyFile: pkFile.file.rel, synthetic };
      if (privMatches.length === 0) addJob({ mode: 'generate', ...common });
      else addJob({ mode: 'derive', ...common, source: bestOf(privMatches, privSet) });
    } catch (e) {
      fail(origin, e);
    }
  };

  const requestPublic = (pubPath: string, as: ClientMetadata, origin: Origin, synthetic: boolean) => {
    if (!pubPath.endsWith('.pub')) {
      fail(origin, new BinderyError('KEYS', `pubkey.xml is in Cfg${pubPath}/, whose name does not end in .pub`, { file: `Cfg${pubPath}/pubkey.xml` }, 'put pubkey.xml in <private key directory>.pub/'));
      return;
    }
    request(pubPath.slice(0, -'.pub'.length), as, true, origin, synthetic);
  };

  for (const { metadata: m, paths } of needs) {
    for (const path of paths) {
      const set = repo.entrySets.get(path);
      if (!set) continue;
      const origin: Origin = { host: m.hostname, path };
      if (set.creators.some((c) => c.kind === 'privkey.xml')) request(path, m, false, origin, false);
      if (set.creators.some((c) => c.kind === 'pubkey.xml')) requestPublic(path, m, origin, false);
      if (set.creators.some((c) => c.kind === 'sslkey.xml')) ssl.requestKey(path, m);
      if (set.creators.some((c) => c.kind === 'sslcert.xml')) ssl.requestCert(path, m);
      const ak = set.generators.find((g) => g.kind === 'authorized_keys.xml');
      // Only when authorized_keys.xml is what this client gets (no other generator matches).
      if (ak && set.generators.every((g) => g === ak || !matches(g.specificity, m))) {
        let root = authKeys.get(ak.file.rel);
        if (root === undefined) {
          try {
            root = parseAuthorizedKeys(ak);
          } catch {
            root = null; // the bind reports it
          }
          authKeys.set(ak.file.rel, root);
        }
        for (const allow of root ? matchingAllows(root, m) : []) {
          if (allow.attrs.from === undefined) continue;
          let targets;
          try {
            targets = allowTargets(allow, m, allowCtx, ak).targets;
          } catch {
            continue; // the bind reports it
          }
          // As in Bcfg2, only a pubkey.xml makes a referenced key get created.
          for (const t of targets) {
            if (repo.entrySets.get(t.from)?.creators.some((c) => c.kind === 'pubkey.xml')) {
              requestPublic(t.from, t.as, { host: m.hostname, path, file: ak.file.rel, line: allow.line }, t.synthetic);
            }
          }
        }
      }
    }
  }

  const keySecret = (): string | null => (config.sshkeys.passphrase ? passphraseNamed(list, config.sshkeys.passphrase, { file: config.file ?? 'bcfg2.conf' }).secret : null);
  const abs = (rel: string) => join(repo.root, rel);

  const writePublic = async (pubRel: string, line: string) => {
    if (await createExclusive(abs(pubRel), line, 0o644)) {
      written.push(pubRel);
      return;
    }
    const existing = await readIfExists(abs(pubRel));
    if (existing && publicKeyId(existing.toString('utf8')) === publicKeyId(line)) return adopt(pubRel);
    await replaceAtomic(abs(pubRel), line, 0o644);
    written.push(pubRel);
    warn({ code: 'key-public-replaced', message: 'the public key did not belong to the private key; replaced', file: pubRel });
  };

  const run = async (job: Job): Promise<void> => {
    try {
      if (job.mode === 'derive') {
        const src = job.source!;
        if (src.kind !== 'plain' && src.kind !== 'crypt') {
          throw new BinderyError('KEYS', `cannot derive a public key from a ${src.kind} file`, { file: src.file.rel }, `create ${job.pubRel} by hand, or make the private key a plain or .crypt file`);
        }
        const key = loadPrivateKey(readPrivate(src.file.rel, src.file.data, src.kind === 'crypt'), job.spec.passphrase, src.file.rel);
        await writePublic(job.pubRel, publicKeyLine(key, job.pubRel));
        return;
      }
      const secret = keySecret();
      let key = await newKey(job.spec);
      const text = privateKeyText(key, job.spec.passphrase, job.pubRel);
      if (await createExclusive(abs(job.privRel), secret === null ? text : encryptText(text, secret), 0o600)) {
        written.push(job.privRel);
      } else {
        // Another build wrote this key first: adopt its key so both builds agree.
        const theirs = await readIfExists(abs(job.privRel));
        if (!theirs) throw new BinderyError('KEYS', 'the key file vanished while being written', { file: job.privRel }, 'run the build again');
        key = loadPrivateKey(readPrivate(job.privRel, theirs, secret !== null), job.spec.passphrase, job.privRel);
        warn({ code: 'key-adopted', message: 'another build wrote this key first; using its key', file: job.privRel });
        adopt(job.privRel);
      }
      await writePublic(job.pubRel, publicKeyLine(key, job.pubRel));
    } catch (e) {
      fail(job.origin, explainWriteError(e, job.privRel));
    }
  };

  const limit = pLimit(Math.max(1, opts.jobs ?? availableParallelism()));
  const sshTasks = [...jobs.values()].sort((a, b) => (a.pubRel < b.pubRel ? -1 : 1)).map((j) => () => run(j));
  await Promise.all([...sshTasks, ...ssl.tasks()].map((t) => limit(t)));
  return { written: [...written, ...adopted].sort(), adopted: adopted.sort(), diagnostics: [...diagnostics.values()], failed: [...failed.values()] };
}

/** The generator a client's existing private key comes from; two equally specific ones are an error. */
export function bestOf(candidates: readonly CfgFile[], set: EntrySet): CfgFile {
  const sorted = [...candidates].sort((a, b) => compareSpecificity(b.specificity, a.specificity));
  if (sorted.length > 1 && compareSpecificity(sorted[0]!.specificity, sorted[1]!.specificity) === 0) {
    throw new BinderyError('AMBIGUOUS', `two private keys are equally specific for this client: ${sorted[0]!.file.rel} and ${sorted[1]!.file.rel}`, { file: set.dir }, 'remove one of them');
  }
  return sorted[0]!;
}
