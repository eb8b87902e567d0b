import { BinderyError, type Diagnostic } from '../errors.js';
import { isNegated } from '../xml/index.js';
import type { MNode } from './tree.js';

export interface GroupDecl {
  readonly name: string;
  readonly profile: boolean;
  readonly public: boolean;
  readonly category: string | null;
  /** Direct `<Bundle>` children of the group's first declaration. */
  readonly bundles: readonly string[];
  readonly line: number;
  /** File of the declaration (groups.xml, or a file it XIncludes). */
  readonly file: string;
}

/** One ancestor of a membership leaf: a Group or Client conditional. */
export interface RuleCondition {
  readonly tag: 'Group' | 'Client';
  readonly name: string;
  readonly negate: boolean;
}

/**
 * A membership statement of groups.xml: add (or, negated, remove) `group` when
 * every condition holds. The category check of an adding rule comes from the group's declaration.
 */
export interface MembershipRule {
  readonly group: string;
  readonly negate: boolean;
  readonly conditions: readonly RuleCondition[];
  readonly file: string;
  readonly line: number;
}

export interface GroupsModel {
  readonly groups: readonly GroupDecl[];
  readonly defaultGroup: string | null;
  readonly rules: readonly MembershipRule[];
}

const isCond = (n: MNode): boolean => n.el.name === 'Group' || n.el.name === 'Client';
const isTopLevel = (n: MNode): boolean => n.parent?.el.name === 'Groups';
const isLeaf = (n: MNode): boolean => n.children.length === 0;

function descendants(n: MNode, out: MNode[] = []): MNode[] {
  for (const c of n.children) {
    out.push(c);
    descendants(c, out);
  }
  return out;
}

function nameOf(n: MNode): string {
  const name = n.el.attrs.name;
  if (!name) {
    throw new BinderyError('METADATA', `<${n.el.name}> without a name`, { file: n.file, line: n.el.line }, `give the ${n.el.name} element a name="…" attribute`);
  }
  return name;
}

/** Passes A (declarations) and B (membership rules) of Bcfg2's metadata over groups.xml. */
export function readGroups(root: MNode, diagnostics: Diagnostic[]): GroupsModel {
  if (root.el.name !== 'Groups') {
    throw new BinderyError('METADATA', `the root element is <${root.el.name}>, expected <Groups>`, { file: root.file, line: root.el.line }, 'wrap the group declarations in <Groups>…</Groups>');
  }
  const all = [root, ...descendants(root)];
  for (const n of all) if (isCond(n) || n.el.name === 'Bundle') nameOf(n);
  for (const n of all) {
    const name = n.el.attrs.name!;
    if (n.el.name === 'Client' && name !== name.toLowerCase()) {
      diagnostics.push({ code: 'client-name-case', message: `<Client name="${name}"> never matches: client names are lower-cased; write "${name.toLowerCase()}"`, file: n.file, line: n.el.line });
    }
  }

  // Pass A: top-level Groups first, then Groups nested in them; the first declaration wins.
  const topGroups = all.filter((n) => n.el.name === 'Group' && isTopLevel(n));
  const candidates = new Set(topGroups);
  for (const t of topGroups) for (const d of descendants(t)) if (d.el.name === 'Group') candidates.add(d);
  const decls = new Map<string, GroupDecl>();
  const declaring = new Set<MNode>();
  let defaultGroup: string | null = null;
  let defaultAt: MNode | null = null;
  for (const n of candidates) {
    const name = n.el.attrs.name!;
    const first = decls.get(name);
    if (first) {
      if (carriesDeclaration(n)) {
        diagnostics.push({ code: 'duplicate-group', message: `group "${name}" is declared again; only its first declaration (${first.file}:${first.line}) counts, these attributes are ignored`, file: n.file, line: n.el.line });
      }
      continue;
    }
    declaring.add(n);
    decls.set(name, {
      name,
      profile: n.el.attrs.profile === 'true',
      public: n.el.attrs.public === 'true',
      category: n.el.attrs.category ?? null,
      bundles: n.children.filter((c) => c.el.name === 'Bundle').map((c) => c.el.attrs.name!),
      line: n.el.line,
      file: n.file,
    });
    if (n.el.attrs.default === 'true') {
      if (defaultAt) {
        diagnostics.push({ code: 'multiple-default-groups', message: `group "${name}" is default="true" as well as "${defaultGroup}" (${defaultAt.file}:${defaultAt.el.line}); the last one, "${name}", is the default`, file: n.file, line: n.el.line });
      }
      defaultGroup = name;
      defaultAt = n;
    }
  }

  for (const n of all) {
    if (n.el.name === 'Bundle' && !(n.parent && declaring.has(n.parent))) {
      diagnostics.push({ code: 'ignored-bundle', message: `<Bundle name="${n.el.attrs.name}"> is ignored: bundles count only as direct children of a group's first declaration`, file: n.file, line: n.el.line });
    }
  }

  // Pass B: leaves under top-level Groups, then leaves under top-level Clients.
  const under = (tag: string) => new Set(all.filter((n) => n.el.name === tag && isTopLevel(n)).flatMap((t) => descendants(t)));
  const underGroups = under('Group');
  const underClients = [...under('Client')].filter((n) => !underGroups.has(n));
  const rules: MembershipRule[] = [];
  const undeclaredWarned = new Set<string>();
  for (const leaf of [...underGroups, ...underClients]) {
    if (!isCond(leaf) || !isLeaf(leaf)) continue;
    if (leaf.el.name === 'Client') {
      throw new BinderyError(
        'METADATA',
        `<Client name="${leaf.el.attrs.name}"/> with no children inside a conditional is not a membership statement`,
        { file: leaf.file, line: leaf.el.line },
        'a Client element in groups.xml is a condition: put the groups it grants inside it (<Client name="h"><Group name="g"/></Client>), or assign clients to groups in clients.xml',
      );
    }
    const group = leaf.el.attrs.name!;
    if (!decls.has(group) && !undeclaredWarned.has(group)) {
      undeclaredWarned.add(group);
      diagnostics.push({ code: 'undeclared-group', message: `group "${group}" is used but never declared; it is a plain group (no bundles, no category)`, file: leaf.file, line: leaf.el.line });
    }
    const conditions: RuleCondition[] = [];
    for (let a = leaf.parent; a; a = a.parent) {
      if (isCond(a)) conditions.push({ tag: a.el.name as 'Group' | 'Client', name: a.el.attrs.name!, negate: isNegated(a.el) });
    }
    rules.push({ group, negate: isNegated(leaf.el), conditions, file: leaf.file, line: leaf.el.line });
  }
  return { groups: [...decls.values()], defaultGroup, rules };
}

/** Whether a later mention of a group tries to set what only the first declaration sets. */
function carriesDeclaration(n: MNode): boolean {
  const a = n.el.attrs;
  return a.profile !== undefined || a.public !== undefined || a.default !== undefined || a.category !== undefined || n.children.some((c) => c.el.name === 'Bundle');
}
