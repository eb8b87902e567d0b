/** Template render time per host, for `scripts/bench-templates.ts` and the project benchmark. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ClientMetadata } from '../types.js';
import { compileTemplate } from './compile.js';
import type { TemplateKind } from './types.js';
import { entryName } from './migrate/index.js';

export interface TemplateTiming {
  /** Repo-relative template file. */
  readonly file: string;
  readonly kind: TemplateKind;
  readonly compileMs: number;
  /** Mean time of one render for one client, in microseconds. */
  readonly renderMicrosPerHost: number;
  readonly hosts: number;
  /** Clients whose render failed (a raised TemplateError counts: it is a normal outcome). */
  readonly failures: number;
}

/** Compile each template once, then render it `rounds` times for every client. */
export function benchmarkTemplates(repoRoot: string, files: readonly string[], clients: readonly ClientMetadata[], rounds = 20): TemplateTiming[] {
  return files.map((file) => {
    const kind = file.split('.').pop() as TemplateKind;
    const source = readFileSync(join(repoRoot, file), 'utf8');
    const t0 = performance.now();
    const tpl = compileTemplate(kind, source, file, { repoRoot });
    const compileMs = performance.now() - t0;
    const name = entryName(file);
    let failures = 0;
    const t1 = performance.now();
    for (let r = 0; r < rounds; r++) {
      for (const m of clients) {
        try {
          tpl.render({ metadata: m, allClients: clients, name, sourcePath: join(repoRoot, file), repo: repoRoot });
        } catch {
          if (r === 0) failures++;
        }
      }
    }
    const renders = rounds * clients.length;
    return { file, kind, compileMs, renderMicrosPerHost: renders ? ((performance.now() - t1) * 1000) / renders : 0, hosts: clients.length, failures };
  });
}
