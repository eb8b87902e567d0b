/** What every template kind offers its callers: compile once, render per client. */
import type { ClientMetadata } from '../types.js';

export type TemplateKind = 'liquid' | 'genshi' | 'cheetah';

export interface TemplateVars {
  readonly metadata: ClientMetadata;
  /** Every client of the build, for metadata.query. */
  readonly allClients: readonly ClientMetadata[];
  /** Client-side path (the realname under altsrc). */
  readonly name: string;
  /** Absolute path of the template file. */
  readonly sourcePath: string;
  /** Absolute repo root. */
  readonly repo: string;
}

export interface CompiledTemplate {
  /** Throws BinderyError('TEMPLATE', message, {file, line, column}); the caller adds host and path. */
  render(vars: TemplateVars): string;
}
