/**
 * Faults of the Python-subset evaluator. They carry a template line and column; the template
 * front ends turn them into BinderyError('TEMPLATE') with the file name.
 */

/** A syntax error, or a construct outside bindery's subset, found while parsing. */
export class SyntaxFault extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly col: number,
    /** Set when the source is valid but outside the supported subset. */
    readonly unsupported = false,
  ) {
    super(message);
    this.name = 'SyntaxFault';
  }
}

export function unsupported(construct: string, line: number, col: number): SyntaxFault {
  return new SyntaxFault(`${construct} is outside the subset bindery evaluates`, line, col, true);
}

/** A Python exception raised while rendering (NameError, KeyError, TypeError, …). */
export class PyError extends Error {
  line?: number;
  col?: number;
  /** Repo-relative template file, set when the error crosses an include boundary. */
  file?: string;
  /** Set when the template is valid Python that bindery does not evaluate (found at render time). */
  outside = false;
  /** Set when a bound of the evaluator stopped the render: no #except catches it. */
  limit = false;
  /** Set when a Cheetah name-mapper lookup failed (Cheetah's NotFound, a LookupError). */
  notFound = false;
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = 'PyError';
  }
}

/** A Python builtin, method or statement form bindery does not evaluate, met while rendering. */
export function outsideSubset(type: string, construct: string): PyError {
  const e = new PyError(type, `${construct} is outside the subset bindery evaluates`);
  e.outside = true;
  return e;
}

/**
 * The refusal for importing Bcfg2 server code (a TemplateHelper module, Bcfg2.Server.…), or null
 * for any other module: such code runs inside a Bcfg2 server, which bindery is not.
 */
export function serverImport(module: string, line: number, col: number): SyntaxFault | null {
  if (!/^Bcfg2(\.|$)|TemplateHelper/.test(module)) return null;
  return new SyntaxFault(
    `importing ${module}: TemplateHelper modules and other Bcfg2 server code are Python that bindery does not run; put what the helper computes in Properties/<name>.xml (metadata.Properties), groups or categories, or rewrite the template in Liquid`,
    line,
    col,
    true,
  );
}

/** A render stopped by one of the evaluator's bounds (steps, depth, size). */
export function limitError(type: string, message: string): PyError {
  const e = new PyError(type, message);
  e.limit = true;
  return e;
}

/** `raise TemplateError(...)`: the template itself refuses to render; the message is the user's. */
export class TemplateRaise extends PyError {
  constructor(message: string) {
    super('TemplateError', message);
  }
}
