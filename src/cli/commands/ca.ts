import { resolve, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { BinderyError } from '../../errors.js';
import { boolOpt, stringOpt, type Command } from '../command.js';
import { intOption, positional } from './common.js';

const INIT_USAGE = 'ca init <dir> [--days N] [--cn NAME]';
const ISSUE_USAGE = 'ca issue <dir> <name> [--server] [--days N] [--san NAME]... [--out DIR]';
const REVOKE_USAGE = 'ca revoke <dir> <name | certificate file>';

export const caInitCommand: Command = {
  name: 'ca init',
  summary: 'create a certificate authority (ca.key, ca.crt) for the server and its clients',
  usage: INIT_USAGE,
  options: {
    days: { type: 'string', valueName: 'n', description: 'days the CA certificate is valid', default: '3650' },
    cn: { type: 'string', valueName: 'name', description: 'common name of the CA', default: 'bindery CA' },
  },
  async run(ctx) {
    const ca = await import('../../ca/index.js');
    const dir = resolve(positional(ctx, 0, 'CA directory', INIT_USAGE));
    const paths = ca.initCa(dir, { days: intOption(ctx, 'days', undefined), commonName: stringOpt(ctx, 'cn') });
    const cert = ca.describeCertificate(readFileSync(paths.certPath, 'utf8'));
    ctx.io.info(`created CA ${cert.subject.replaceAll('\n', ', ')} valid until ${cert.validTo}\n  ${paths.certPath} (give this to clients and to bindery serve --ca)\n  ${paths.keyPath} (keep secret)`);
    ctx.io.result({ ok: true, ...paths, ...cert });
    return 0;
  },
};

export const caIssueCommand: Command = {
  name: 'ca issue',
  summary: 'issue a client certificate (CN = the client\'s FQDN) or, with --server, a server certificate',
  usage: ISSUE_USAGE,
  options: {
    server: { type: 'boolean', description: 'a server certificate (serverAuth) instead of a client one' },
    days: { type: 'string', valueName: 'n', description: 'days the certificate is valid', default: '825' },
    san: { type: 'string', multiple: true, valueName: 'name', description: 'a DNS name or IP address the server certificate also covers' },
    out: { type: 'string', short: 'o', valueName: 'dir', description: 'where <name>.crt and <name>.key go', default: '<dir>/issued' },
  },
  async run(ctx) {
    const ca = await import('../../ca/index.js');
    const dir = resolve(positional(ctx, 0, 'CA directory', ISSUE_USAGE));
    const name = positional(ctx, 1, 'certificate name (the client\'s FQDN, or the server\'s name)', ISSUE_USAGE);
    const san = ctx.values.san;
    const server = boolOpt(ctx, 'server');
    if (san && !server) throw new BinderyError('USAGE', '--san is for server certificates', {}, `usage: bindery ${ISSUE_USAGE}`);
    const out = resolve(stringOpt(ctx, 'out') ?? join(dir, 'issued'));
    const paths = ca.issueToFiles(dir, name, out, { server, days: intOption(ctx, 'days', undefined), altNames: Array.isArray(san) ? san : undefined });
    const cert = ca.describeCertificate(readFileSync(paths.certPath, 'utf8'));
    ctx.io.info(`issued ${server ? 'server' : 'client'} certificate for ${name} valid until ${cert.validTo}${cert.subjectAltName ? ` (${cert.subjectAltName})` : ''}\n  ${paths.certPath}\n  ${paths.keyPath} (keep secret)`);
    ctx.io.result({ ok: true, ...paths, ...cert, server });
    return 0;
  },
};

export const caRevokeCommand: Command = {
  name: 'ca revoke',
  summary: 'revoke a certificate: rewrite the CA\'s revocation list (ca.crl), which bindery serve reloads by itself',
  usage: REVOKE_USAGE,
  options: {},
  async run(ctx) {
    const ca = await import('../../ca/index.js');
    const dir = resolve(positional(ctx, 0, 'CA directory', REVOKE_USAGE));
    const which = positional(ctx, 1, 'certificate name (as given to ca issue) or certificate file', REVOKE_USAGE);
    const r = ca.revokeCertificate(dir, which);
    ctx.io.info(`${r.alreadyRevoked ? 'already revoked' : 'revoked'}: ${r.name} (serial ${r.serial})\n  ${r.crlPath} (bindery serve --ca ${dir} reads it; new connections with this certificate are refused)`);
    ctx.io.result({ ok: true, ...r });
    return 0;
  },
};
