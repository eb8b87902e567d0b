/**
 * clients.xml settings that are valid but hand a client's identity to someone else. Warned by
 * `bindery build` and `bindery serve` (docs/server.md, "Dangerous configurations").
 */
import type { Diagnostic } from '../errors.js';
import type { AuthType, ClientAuth } from '../types.js';

const CLIENTS_FILE = 'Metadata/clients.xml';

export function clientHazards(clients: readonly ClientAuth[], defaultAuth: AuthType): Diagnostic[] {
  const out: Diagnostic[] = [];
  const names = new Map<string, string>();
  for (const c of clients) {
    names.set(c.hostname.toLowerCase(), c.hostname);
    for (const a of c.aliases) if (!names.has(a.name.toLowerCase())) names.set(a.name.toLowerCase(), c.hostname);
  }
  for (const c of clients) {
    if ((c.auth ?? defaultAuth) === 'bootstrap' && c.floating && !c.secure) {
      out.push({
        code: 'floating-bootstrap',
        file: CLIENTS_FILE,
        host: c.hostname,
        message: `client ${c.hostname} is bootstrap, floating and not secure: its one password run takes the global password from any address, so whoever asks first gets its configuration and private keys; make it secure="true" with a password of its own, or give it an address`,
      });
    }
    const owner = c.uuid === null ? undefined : names.get(c.uuid.toLowerCase());
    if (owner !== undefined && owner !== c.hostname) {
      out.push({
        code: 'uuid-shadows-name',
        file: CLIENTS_FILE,
        host: c.hostname,
        message: `client ${c.hostname} has uuid "${c.uuid}", which is client ${owner}'s name: user "${c.uuid}" logs in as ${c.hostname}, never as ${owner}; give it another uuid`,
      });
    }
  }
  return out;
}
