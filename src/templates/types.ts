/** What every template kind offers its callers: compile once, render per client. */
import type { ClientMetadata } from '../types.js';
import type { PropertiesModel } from '../properties/index.js';

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
  /** The Properties files of the build (none when absent). */
  readonly properties?: PropertiesModel;
}

export interface CompiledTemplate {
  /** Throws BinderyError('TEMPLATE', message, {file, line, column}); the caller adds host and path. */
  render(vars: TemplateVars): string;
}
