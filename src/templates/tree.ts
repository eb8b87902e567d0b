/**
 * The parsed form of a Genshi or Cheetah template: one tree for both, so they share the
 * renderer and the Liquid converter (migrate). Positions are lines and columns in the file.
 */
import type { Expr, Param, Stmt } from './python/ast.js';

export interface Pos {
  readonly line: number;
  readonly col: number;
}

export interface Branch extends Pos {
  readonly test: Expr;
  readonly body: readonly TNode[];
}

export type TNode =
  | { readonly t: 'text'; readonly s: string }
  /** silent: Cheetah `$!x`, an undefined name renders as nothing. */
  | (Pos & { readonly t: 'out'; readonly e: Expr; readonly silent?: boolean })
  | (Pos & { readonly t: 'if'; readonly branches: readonly Branch[]; readonly orelse: readonly TNode[] | null })
  | (Pos & { readonly t: 'for'; readonly target: Expr; readonly iter: Expr; readonly body: readonly TNode[] })
  | (Pos & { readonly t: 'choose'; readonly test: Expr | null; readonly body: readonly TNode[] })
  | (Pos & { readonly t: 'when'; readonly test: Expr | null; readonly body: readonly TNode[] })
  | (Pos & { readonly t: 'otherwise'; readonly body: readonly TNode[] })
  | (Pos & { readonly t: 'with'; readonly stmts: readonly Stmt[]; readonly body: readonly TNode[] })
  | (Pos & { readonly t: 'def'; readonly name: string; readonly params: readonly Param[]; readonly body: readonly TNode[] })
  /** Genshi include: the path is text with ${…} parts. */
  | (Pos & { readonly t: 'include'; readonly path: readonly TNode[] })
  /** A {% python %} block, a Cheetah #set or #silent. */
  | (Pos & { readonly t: 'exec'; readonly stmts: readonly Stmt[] })
  | (Pos & { readonly t: 'break' | 'continue' })
  /** Cheetah #while, #repeat, #try, #stop, #return and #include. */
  | (Pos & { readonly t: 'while'; readonly test: Expr; readonly body: readonly TNode[] })
  | (Pos & { readonly t: 'repeat'; readonly count: Expr; readonly body: readonly TNode[] })
  | (Pos & { readonly t: 'try'; readonly body: readonly TNode[]; readonly handlers: readonly Handler[]; readonly orelse: readonly TNode[] | null; readonly final: readonly TNode[] | null })
  | (Pos & { readonly t: 'stop' })
  | (Pos & { readonly t: 'return'; readonly e: Expr | null })
  /** source: e is the template text itself; raw: printed as it is, not parsed. */
  | (Pos & { readonly t: 'cinclude'; readonly e: Expr; readonly raw: boolean; readonly source: boolean });

/** A Cheetah #except: the exception types (null: any) and the name the exception is bound to. */
export interface Handler extends Pos {
  readonly types: Expr | null;
  readonly name: string | null;
  readonly body: readonly TNode[];
}

/** A Cheetah #def or #block: a method of the template, callable anywhere in it. */
export interface Method extends Pos {
  readonly name: string;
  readonly params: readonly Param[];
  readonly body: readonly TNode[];
}

export type Dialect = 'genshi' | 'cheetah';

/** A parsed template file. */
export interface ParsedTemplate {
  readonly dialect: Dialect;
  /** Repo-relative file name, for errors. */
  readonly file: string;
  readonly nodes: readonly TNode[];
  /** Cheetah: the template's #def and #block methods. */
  readonly methods?: readonly Method[];
}
