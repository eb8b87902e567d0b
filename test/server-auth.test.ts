/**
 * The authentication decision as a pure function: Bcfg2's TestMetadata fixture, the seed's auth table, and bindery's departures (decision 13 (docs/decisions.md)–15).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { authenticate, indexClients, parseBasic, secretEquals, normalizeAddress, type AuthPolicy, type Credentials } from '../src/server/index.ts';
import { clientAuth } from './fixtures/server-kit/index.ts';

// clients.xml of Bcfg2's tests, as the metadata stage hands it over (names lower-cased, alias addresses included).
const fixture = [
  clientAuth('client1', { addresses: ['1.2.3.1'], auth: 'cert', floating: true, password: 'password2' }),
  clientAuth('client2', { addresses: ['1.2.3.2'], secure: true }),
  clientAuth('client3', { addresses: ['1.2.3.3'], uuid: 'uuid1', password: 'password2', aliases: [{ name: 'alias1', address: null }] }),
  clientAuth('client4', { addresses: ['1.2.3.2'], aliases: [{ name: 'alias2', address: '1.2.3.2' }, { name: 'alias3', address: null }] }),
  clientAuth('client5'),
  clientAuth('client6', { auth: 'bootstrap' }),
  clientAuth('client7', { auth: 'cert', addresses: ['1.2.3.4'] }),
  clientAuth('client8', { auth: 'cert+password', addresses: ['1.2.3.5'] }),
  clientAuth('client9', { secure: true, password: 'password3' }),
  clientAuth('client10', { floating: true }),
];
const index = indexClients(fixture);
const policy: AuthPolicy = { globalPassword: 'password1', defaultAuth: 'cert+password' };
const never = () => false;

const cert = (cn: string | string[], trusted = true): Credentials['cert'] => ({ commonNames: Array.isArray(cn) ? cn : [cn], trusted });
const basic = (user: string, password: string) => ({ user, password });
const auth = (c: Partial<Credentials> & { address: string }, idx = index, done: (c: string) => boolean = never, pol = policy) =>
  authenticate({ cert: null, basic: null, ...c }, idx, pol, done);
const okAs = (d: ReturnType<typeof auth>, client: string, method?: string) => {
  assert.ok(d.ok, d.ok ? '' : `expected success, got: ${d.reason}`);
  if (d.ok) {
    assert.is(d.client, client);
    if (method) assert.is(d.method, method);
  }
};
const denied = (d: ReturnType<typeof auth>, reason?: RegExp) => {
  assert.not.ok(d.ok, 'expected a failure');
  if (!d.ok && reason) assert.match(d.reason, reason);
};

test('root from 1.2.3.1 is client1; from 1.2.3.2 (client2 and client4) it must be a uuid', () => {
  okAs(auth({ address: '1.2.3.5', basic: basic('root', 'password1') }), 'client8', 'address');
  denied(auth({ address: '1.2.3.2', basic: basic('root', 'password1') }), /several clients share this address; they must use a uuid/);
  // client1 is auth="cert": its address identifies it, but a password cannot authenticate it.
  denied(auth({ address: '1.2.3.1', basic: basic('root', 'password2') }), /certificate is required/);
});

test('root from an address nobody lists asks for its DNS names; no name, or a name that is no client, is a failure', () => {
  const first = auth({ address: '9.9.9.9', basic: basic('root', 'password1') });
  assert.is(first.ok === false && first.needsNames, true, 'the caller must resolve the address');
  denied(auth({ address: '9.9.9.9', names: [], basic: basic('root', 'password1') }), /no forward-confirmed DNS name/);
  denied(auth({ address: '9.9.9.9', names: ['stranger.example'], basic: basic('root', 'password1') }), /is no client/);
  okAs(auth({ address: '9.9.9.9', names: ['client5'], basic: basic('root', 'password1') }), 'client5', 'address');
  okAs(auth({ address: '9.9.9.9', names: ['alias1'], basic: basic('root', 'password1') }), 'client3', 'address');
});

test('floating client1 with its certificate from anywhere', () => {
  okAs(auth({ address: '10.0.0.1', cert: cert('client1') }), 'client1', 'cert');
});

test('client2 from 1.2.3.2 passes the address check, from 1.2.3.8 it does not', () => {
  const c2 = indexClients([clientAuth('client2', { addresses: ['1.2.3.2'], password: 'own' })]);
  okAs(auth({ address: '1.2.3.2', basic: basic('client2', 'own') }, c2), 'client2');
  denied(auth({ address: '1.2.3.8', names: [], basic: basic('client2', 'own') }, c2), /no forward-confirmed DNS name/);
  denied(auth({ address: '1.2.3.8', names: ['other.example'], basic: basic('client2', 'own') }, c2), /resolves to other.example, not to this client/);
  okAs(auth({ address: '1.2.3.8', names: ['client2'], basic: basic('client2', 'own') }, c2), 'client2');
});

test('client4 from its alias address 1.2.3.2 passes; from 1.2.3.7 (reverse DNS in Bcfg2) it does not', () => {
  okAs(auth({ address: '1.2.3.2', basic: basic('client4', 'password1') }), 'client4', 'name');
  okAs(auth({ address: '1.2.3.2', basic: basic('ALIAS2', 'password1') }), 'client4', 'name');
  denied(auth({ address: '1.2.3.7', names: [], basic: basic('client4', 'password1') }));
  okAs(auth({ address: '1.2.3.7', names: ['alias3'], basic: basic('client4', 'password1') }), 'client4', 'name');
});

test('client5 from 1.2.3.5 (client8\'s address) fails whatever its DNS says; a floating client needs no address', () => {
  denied(auth({ address: '1.2.3.5', basic: basic('client5', 'password1') }), /another client's/);
  denied(auth({ address: '1.2.3.5', names: ['client5'], basic: basic('client5', 'password1') }), /another client's/);
  okAs(auth({ address: '1.2.3.99', basic: basic('client10', 'password1') }), 'client10');
});

test('a certificate client whose address check fails is refused; passing, it is in', () => {
  denied(auth({ address: '1.2.3.9', cert: cert('client7') }), /address/);
  okAs(auth({ address: '1.2.3.4', cert: cert('client7') }), 'client7', 'cert');
});

test('root from an address with password1 (global) is in', () => {
  okAs(auth({ address: '1.2.3.5', basic: basic('root', 'password1') }), 'client8', 'address');
});

test('user client2 (secure, no password of its own) can never connect', () => {
  denied(auth({ address: '1.2.3.2', basic: basic('client2', 'password1') }), /secure client has no password of its own/);
  denied(auth({ address: '1.2.3.2', basic: basic('client2', '') }));
});

test('uuid1 with the global password is client3, from client3\'s address (decision 13 (docs/decisions.md))', () => {
  okAs(auth({ address: '1.2.3.3', basic: basic('uuid1', 'password1') }), 'client3', 'uuid');
  denied(auth({ address: '1.2.3.4', basic: basic('uuid1', 'password1') }), /address/);
});

test('client3 with its own password2 is in; client5 with client3\'s password is not', () => {
  okAs(auth({ address: '1.2.3.3', basic: basic('client3', 'password2') }), 'client3', 'name');
  const c5 = indexClients([clientAuth('client5', { addresses: ['1.2.3.6'] })]);
  denied(auth({ address: '1.2.3.6', basic: basic('client5', 'password2') }, c5), /wrong password/);
  okAs(auth({ address: '1.2.3.6', basic: basic('client5', 'password1') }, c5), 'client5');
});

test('secure client9 takes password3 and refuses the global password1', () => {
  // In the fixture client9 has no address: its DNS name decides.
  denied(auth({ address: '1.2.3.9', names: [], basic: basic('client9', 'password3') }), /no forward-confirmed DNS name/);
  okAs(auth({ address: '1.2.3.9', names: ['client9'], basic: basic('client9', 'password3') }), 'client9');
  const c9 = indexClients([clientAuth('client9', { secure: true, password: 'password3', addresses: ['1.2.3.9'] })]);
  okAs(auth({ address: '1.2.3.9', basic: basic('client9', 'password3') }, c9), 'client9');
  denied(auth({ address: '1.2.3.9', basic: basic('client9', 'password1') }, c9), /secure: only the client's own password/);
});

test('bootstrap client6 takes a password until its run is done, then only its certificate', () => {
  const c6 = indexClients([clientAuth('client6', { auth: 'bootstrap', password: 'six', addresses: ['1.2.3.6'] })]);
  const first = auth({ address: '1.2.3.6', basic: basic('client6', 'six') }, c6);
  okAs(first, 'client6');
  assert.ok(first.ok && first.bootstrapRun, 'a password under bootstrap is the bootstrap run');
  denied(auth({ address: '1.2.3.6', basic: basic('client6', 'six') }, c6, () => true), /password run is used up/);
  const byCert = auth({ address: '1.2.3.6', cert: cert('client6') }, c6, () => true);
  okAs(byCert, 'client6', 'cert');
  assert.ok(byCert.ok && !byCert.bootstrapRun);
});

test('seed table: cert+password with a certificate needs the password too, and the right one', () => {
  okAs(auth({ address: '1.2.3.5', cert: cert('client8'), basic: basic('root', 'password1') }), 'client8', 'cert');
  denied(auth({ address: '1.2.3.5', cert: cert('client8') }), /password must be given with the certificate/);
  denied(auth({ address: '1.2.3.5', cert: cert('client8'), basic: basic('root', 'nope') }), /wrong password/);
});

test('seed table: the global default authentication applies to clients without auth=', () => {
  const c = indexClients([clientAuth('plain', { addresses: ['1.2.3.1'] })]);
  const certOnly: AuthPolicy = { globalPassword: 'g', defaultAuth: 'cert' };
  denied(auth({ address: '1.2.3.1', basic: basic('plain', 'g') }, c, never, certOnly), /certificate is required/);
  okAs(auth({ address: '1.2.3.1', cert: cert('plain') }, c, never, certOnly), 'plain');
  const boot: AuthPolicy = { globalPassword: 'g', defaultAuth: 'bootstrap' };
  const d = auth({ address: '1.2.3.1', basic: basic('plain', 'g') }, c, never, boot);
  assert.ok(d.ok && d.authType === 'bootstrap' && d.bootstrapRun);
});

test('a certificate-only client needs no Authorization header at all (decision 14 (docs/decisions.md))', () => {
  okAs(auth({ address: '1.2.3.4', cert: cert('client7'), basic: null }), 'client7');
});

test('an untrusted certificate (other CA, expired) is refused even if a password would do', () => {
  denied(auth({ address: '1.2.3.5', cert: cert('client8', false), basic: basic('root', 'password1') }), /not trusted/);
});

test('a certificate for a name not in clients.xml, or with two CNs, is refused', () => {
  denied(auth({ address: '1.2.3.4', cert: cert('stranger') }), /not a client/);
  denied(auth({ address: '1.2.3.4', cert: cert(['client7', 'client1']) }), /exactly one common name/);
});

test('a certificate is for one client: naming another client as the user is refused', () => {
  denied(auth({ address: '1.2.3.5', cert: cert('client8'), basic: basic('client3', 'password2') }), /user does not match the certificate/);
  okAs(auth({ address: '1.2.3.5', cert: cert('client8'), basic: basic('CLIENT8', 'password1') }), 'client8');
});

test('an unknown user is refused: only clients in clients.xml exist (decision 8 (docs/decisions.md))', () => {
  denied(auth({ address: '1.2.3.5', basic: basic('nobody', 'password1') }), /neither a uuid nor a client/);
});

test('no credentials at all is a failure', () => {
  denied(auth({ address: '1.2.3.5' }), /no certificate and no credentials/);
});

test('certificate CNs and user names match case-insensitively; aliases map to their client', () => {
  okAs(auth({ address: '1.2.3.4', cert: cert('CLIENT7') }), 'client7');
  okAs(auth({ address: '1.2.3.3', basic: basic('Alias1', 'password2') }), 'client3');
});

test('several uuid clients behind one NAT address each get their own identity', () => {
  const nat = indexClients([
    clientAuth('a', { uuid: 'u-a', password: 'pa', secure: true, addresses: ['10.0.0.1'] }),
    clientAuth('b', { uuid: 'u-b', password: 'pb', secure: true, addresses: ['10.0.0.1'] }),
  ]);
  okAs(auth({ address: '10.0.0.1', basic: basic('u-a', 'pa') }, nat), 'a', 'uuid');
  okAs(auth({ address: '10.0.0.1', basic: basic('u-b', 'pb') }, nat), 'b', 'uuid');
  denied(auth({ address: '10.0.0.1', basic: basic('u-a', 'pb') }, nat), /wrong password/);
  denied(auth({ address: '10.0.0.1', basic: basic('root', 'pa') }, nat), /several clients/);
  denied(auth({ address: '10.0.0.2', basic: basic('u-a', 'pa') }, nat), /address/);
});

test('IPv4-mapped IPv6 peers compare as IPv4', () => {
  assert.is(normalizeAddress('::ffff:1.2.3.4'), '1.2.3.4');
  okAs(auth({ address: '::ffff:1.2.3.4', cert: cert('client7') }), 'client7');
});

test('Basic credentials split at the first colon (RFC 7617), so a password may contain colons', () => {
  const b64 = (s: string) => 'Basic ' + Buffer.from(s).toString('base64');
  assert.equal(parseBasic(b64('client3:pass:word')), { user: 'client3', password: 'pass:word' });
  assert.equal(parseBasic(b64('root:')), { user: 'root', password: '' });
  assert.is(parseBasic(b64('no-colon')), null);
  assert.is(parseBasic('Bearer abc'), null);
  assert.is(parseBasic(undefined), null);
});

test('an empty password is no password: password="" in clients.xml or an empty global password lets nobody in', () => {
  const empty = indexClients([clientAuth('blank', { password: '', addresses: ['1.2.3.1'] }), clientAuth('sec-blank', { password: '', secure: true, addresses: ['1.2.3.2'] })]);
  const noGlobal: AuthPolicy = { globalPassword: '', defaultAuth: 'cert+password' };
  denied(auth({ address: '1.2.3.1', basic: basic('blank', '') }, empty, never, noGlobal), /wrong password/);
  denied(auth({ address: '1.2.3.1', basic: basic('root', '') }, empty, never, noGlobal), /wrong password/);
  denied(auth({ address: '1.2.3.2', basic: basic('sec-blank', '') }, empty, never, noGlobal), /secure client has no password of its own/);
  okAs(auth({ address: '1.2.3.1', basic: basic('blank', 'password1') }, empty), 'blank');
});

test('IPv6 addresses match however clients.xml writes them', () => {
  const v6 = indexClients([clientAuth('six', { addresses: ['2001:DB8:0:0::1'] })]);
  okAs(auth({ address: '2001:db8::1', basic: basic('root', 'password1') }, v6), 'six', 'address');
  okAs(auth({ address: '2001:db8::1', basic: basic('six', 'password1') }, v6), 'six', 'name');
  assert.is(normalizeAddress('FE80::1%eth0'), 'fe80::1%eth0', 'a zone id is kept as written');
});

test('secretEquals compares whole strings of any length', () => {
  assert.ok(secretEquals('abc', 'abc'));
  assert.not.ok(secretEquals('abc', 'abcd'));
  assert.not.ok(secretEquals('', 'x'));
});

test.run();
