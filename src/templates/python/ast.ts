/** The syntax tree of bindery's Python subset. Every node knows its line and column in the template. */

export interface Loc {
  readonly line: number;
  readonly col: number;
}

export type Const = null | boolean | bigint | number | string;

export interface Arg {
  readonly kind: 'pos' | 'kw' | 'star' | 'dstar';
  readonly name?: string;
  readonly value: Expr;
}

export interface Param {
  readonly name: string;
  readonly default?: Expr;
  readonly star?: '*' | '**';
}

export interface Comprehension {
  readonly target: Expr;
  readonly iter: Expr;
  readonly ifs: readonly Expr[];
}

export type Expr = Loc &
  (
    | { readonly k: 'const'; readonly v: Const }
    /** dollar: written `$name` in Cheetah (name-mapper lookup with autocalling). */
    | { readonly k: 'name'; readonly id: string; readonly dollar?: boolean }
    /** nm: part of a Cheetah `$a.b` chain: dictionary keys first, then attributes, autocalling. */
    | { readonly k: 'attr'; readonly obj: Expr; readonly name: string; readonly nm?: boolean }
    | { readonly k: 'sub'; readonly obj: Expr; readonly index: Expr }
    | { readonly k: 'slice'; readonly lo: Expr | null; readonly hi: Expr | null; readonly step: Expr | null }
    | { readonly k: 'call'; readonly fn: Expr; readonly args: readonly Arg[] }
    | { readonly k: 'unary'; readonly op: '-' | '+' | '~' | 'not'; readonly operand: Expr }
    | { readonly k: 'bin'; readonly op: string; readonly left: Expr; readonly right: Expr }
    | { readonly k: 'bool'; readonly op: 'and' | 'or'; readonly values: readonly Expr[] }
    | { readonly k: 'compare'; readonly left: Expr; readonly ops: readonly string[]; readonly rights: readonly Expr[] }
    | { readonly k: 'ifexp'; readonly test: Expr; readonly body: Expr; readonly orelse: Expr }
    | { readonly k: 'list' | 'tuple' | 'set'; readonly items: readonly Expr[] }
    | { readonly k: 'dict'; readonly keys: readonly Expr[]; readonly values: readonly Expr[] }
    | { readonly k: 'comp'; readonly kind: 'list' | 'set' | 'gen' | 'dict'; readonly elt: Expr; readonly value: Expr | null; readonly gens: readonly Comprehension[] }
    | { readonly k: 'lambda'; readonly params: readonly Param[]; readonly body: Expr }
  );

export type Stmt = Loc &
  (
    | { readonly k: 'expr'; readonly value: Expr }
    | { readonly k: 'assign'; readonly targets: readonly Expr[]; readonly value: Expr }
    | { readonly k: 'augassign'; readonly target: Expr; readonly op: string; readonly value: Expr }
    | { readonly k: 'if'; readonly tests: readonly { readonly test: Expr; readonly body: readonly Stmt[] }[]; readonly orelse: readonly Stmt[] | null }
    | { readonly k: 'for'; readonly target: Expr; readonly iter: Expr; readonly body: readonly Stmt[]; readonly orelse: readonly Stmt[] | null }
    | { readonly k: 'def'; readonly name: string; readonly params: readonly Param[]; readonly body: readonly Stmt[] }
    | { readonly k: 'return'; readonly value: Expr | null }
    /** `raise E(msg)`, `raise E, msg` (Python 2) or a bare `raise`. */
    | { readonly k: 'raise'; readonly exc: Expr | null; readonly msg: Expr | null }
    | { readonly k: 'pass' | 'break' | 'continue' }
    | { readonly k: 'del'; readonly targets: readonly Expr[] }
    | { readonly k: 'assert'; readonly test: Expr; readonly msg: Expr | null }
    /** An accepted import (see parser): binds nothing but the names it lists. */
    | { readonly k: 'import'; readonly names: readonly { readonly name: string; readonly as: string }[] }
    | { readonly k: 'global'; readonly names: readonly string[] }
  );
