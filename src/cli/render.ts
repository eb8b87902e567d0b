import type { Message } from '../errors.js';

export type Paint = (style: 'red' | 'yellow' | 'cyan' | 'bold' | 'dim', s: string) => string;

const plain: Paint = (_style, s) => s;

/** Hosts as a person reads them: a few names, then how many more (--json lists them all). */
function hostList(hosts: readonly string[], shown: number): string {
  if (hosts.length === 1) return `host ${hosts[0]}`;
  return `hosts ${hosts.slice(0, shown).join(', ')}${hosts.length > shown ? ` and ${hosts.length - shown} more` : ''}`;
}

/**
 * A Message for a person: one line that greps and that editors follow
 * (`error[code]: file:line:col, host h, path p: text`), a code frame when the line's text is
 * known (as liquidjs shows one), then hint and notes.
 *
 *   error[xml-malformed]: Metadata/groups.xml:3:5: malformed XML: unclosed tag: Group
 *      |
 *    3 | <Group name="web"
 *      |     ^
 *     hint: fix the XML syntax at that line
 */
export function renderMessage(m: Message, paint: Paint = plain, shownHosts = 5): string {
  const label = m.severity === 'error' ? paint('red', 'error') : m.severity === 'warning' ? paint('yellow', 'warning') : paint('cyan', 'info');
  const loc = m.location;
  const where: string[] = [];
  if (loc) where.push(loc.file + (loc.line ? `:${loc.line}` + (loc.column ? `:${loc.column}` : '') : ''));
  if (m.hosts?.length) where.push(hostList(m.hosts, shownHosts));
  if (m.path) where.push(`path ${m.path}`);
  const lines = [`${label}[${m.code}]: ${where.length ? where.join(', ') + ': ' : ''}${m.text}`];
  if (loc?.line && loc.lineText !== undefined) {
    const num = String(loc.line);
    const gutter = ' '.repeat(num.length);
    const text = loc.lineText.replace(/\t/g, ' ');
    lines.push(`  ${gutter} |`, `  ${paint('dim', num)} | ${text}`);
    if (loc.column && loc.column <= text.length + 1) lines.push(`  ${gutter} | ${' '.repeat(loc.column - 1)}${paint('red', '^')}`);
  }
  if (m.hint) lines.push(`  hint: ${m.hint}`);
  for (const n of m.notes ?? []) lines.push(`  note: ${n}`);
  return lines.join('\n');
}
