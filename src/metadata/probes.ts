import { BinderyError, type Diagnostic } from '../errors.js';
import { parseXml } from '../xml/index.js';

export const PROBED_FILE = 'Probes/probed.xml';

/** What Bcfg2's last probe run left for one client. */
export interface ProbeResult {
  /** Probe name → value (group: lines already taken out by the server that received them). */
  readonly values: Readonly<Record<string, string>>;
  /** Groups the probes put the client in, in file order. */
  readonly groups: readonly string[];
}

/**
 * Probes/probed.xml as Bcfg2's Probes plugin stores it (use_database = false):
 * <Probed><Client name=… timestamp=…><Probe name=… value=…/><Group name=…/></Client></Probed>.
 * Client names are matched lower-cased, as clients.xml's are.
 */
export function readProbed(text: string, file: string, diagnostics: Diagnostic[]): Map<string, ProbeResult> {
  const root = parseXml(text, file);
  if (root.name !== 'Probed') {
    throw new BinderyError('METADATA', `root element is <${root.name}>, expected <Probed>`, { file, line: root.line }, 'probed.xml is the file a Bcfg2 server writes with [probes] use_database = false');
  }
  const out = new Map<string, ProbeResult>();
  for (const client of root.children) {
    const name = client.attrs.name?.toLowerCase();
    if (client.name !== 'Client' || !name) {
      diagnostics.push({ code: 'probes-ignored-element', message: `<${client.name}>${client.name === 'Client' ? ' without name=' : ''} ignored: probed.xml holds <Client name="…"> elements`, file, line: client.line });
      continue;
    }
    if (out.has(name)) diagnostics.push({ code: 'probes-duplicate-client', message: `client ${name} appears twice; the later one is used`, file, line: client.line, host: name });
    const values: Record<string, string> = {};
    const groups: string[] = [];
    for (const el of client.children) {
      if (el.name === 'Probe' && el.attrs.name) values[el.attrs.name] = el.attrs.value ?? '';
      else if (el.name === 'Group' && el.attrs.name) {
        if (!groups.includes(el.attrs.name)) groups.push(el.attrs.name);
      } else diagnostics.push({ code: 'probes-ignored-element', message: `<${el.name}> ignored: a client's results are <Probe name="…" value="…"/> and <Group name="…"/>`, file, line: el.line, host: name });
    }
    out.set(name, { values, groups });
  }
  return out;
}
