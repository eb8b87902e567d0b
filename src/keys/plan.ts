import { BinderyError, asBinderyError } from '../errors.js';
import type { Config } from '../config/index.js';
import { matches, specificitySuffix, type RepoModel } from '../repo/index.js';
import type { Passphrase } from '../secrets/index.js';
import type { XmlElement } from '../xml/index.js';
import { groupStandIn } from '../metadata/index.js';
import { allowTargets, matchingAllows, parseAuthorizedKeys, type AllowContext } from '../cfg/index.js';
import type { CfgFile, ClientMetadata } from '../types.js';
import { bestOf, type Findings, type Origin } from './findings.js';
import { keySpecFor, parsePrivKey, type KeySpec, type PrivKeyFile } from './spec.js';
import { sslPlanner, type SslJob } from './ssl.js';

/** One client and the Path names planned for it. */
export interface KeyNeed {
  readonly metadata: ClientMetadata;
  readonly paths: readonly string[];
}

/** One pair of SSH key files to produce: a new key pair, or the public half of an existing private key. */
export interface SshJob {
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

export interface KeyPlan {
  /** Sorted by public key file. */
  readonly ssh: readonly SshJob[];
  /** Sorted by (key entry, client). */
  readonly ssl: readonly SslJob[];
}

/**
 * What the key phase must make, without touching the disk: every (key, host or group) some
 * client needs and lacks, each once. A client needs a key when its paths include a privkey.xml
 * entry set, a pubkey.xml one, or an authorized_keys.xml whose Allows point at a pubkey.xml
 * path, and no existing generator of that entry set matches it; sslkey.xml / sslcert.xml
 * entries the same way (ssl.ts). Problems are reported to `findings`, per asking client.
 */
export function planKeys(repo: RepoModel, needs: readonly KeyNeed[], config: Config, list: readonly Passphrase[], findings: Findings): KeyPlan {
  const { warn, fail } = findings;
  const clients = needs.map((n) => n.metadata);
  const byName = new Map(clients.map((c) => [c.hostname, c]));
  const standIns = new Map<string, ClientMetadata>();
  const allowCtx: AllowContext = {
    clients,
    findClient: (name) => byName.get(name),
    groupMetadata: (g) => standIns.get(g) ?? standIns.set(g, groupStandIn(g, clients)).get(g)!,
    config,
  };
  const ssl = sslPlanner({ repo, config, passphrases: list, findings });
  const privKeys = new Map<string, PrivKeyFile | BinderyError>();
  const authKeys = new Map<string, XmlElement | null>();
  const jobs = new Map<string, SshJob>();

  const addJob = (job: SshJob) => {
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

  /** The public keys an authorized_keys.xml a client gets points at, when they come from a pubkey.xml. */
  const requestAllowed = (ak: CfgFile, m: ClientMetadata, path: string) => {
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
      if (ak && set.generators.every((g) => g === ak || !matches(g.specificity, m))) requestAllowed(ak, m, path);
    }
  }
  return { ssh: [...jobs.values()].sort((a, b) => (a.pubRel < b.pubRel ? -1 : 1)), ssl: ssl.jobs() };
}
