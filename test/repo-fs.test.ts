import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../src/config/index.ts';
import { BinderyError } from '../src/errors.ts';
import { load } from '../src/pipeline/index.ts';
import { scanRepo } from '../src/repo/index.ts';
import { MapFs, type MapEntry } from './mapfs.ts';

const config = loadConfig(null);

const GROUPS = '<Groups>\n  <Group name="base" profile="true"/>\n</Groups>\n';
const CLIENTS = '<Clients>\n  <Client name="web1" profile="base"/>\n</Clients>\n';

/** A small repository in memory (its root does not exist on disk). */
const repoWith = (extra: Record<string, MapEntry>) => new MapFs({ 'Metadata/groups.xml': GROUPS, 'Metadata/clients.xml': CLIENTS, 'Cfg/etc/motd/motd': 'hello\n', ...extra }, '/nonexistent/repo');

async function refused(p: Promise<unknown>): Promise<BinderyError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, BinderyError);
    return e as BinderyError;
  }
  throw new Error('expected a BinderyError');
}

test('the scan reads Cfg/ and the plugin folders once; metadata is built from what it read', async () => {
  const loaded = await load({ repo: '/nonexistent/repo', fs: repoWith({ 'Bundler/web.xml': '<Bundle><Path name="/etc/motd"/></Bundle>' }) });
  assert.equal([...loaded.repo.files.keys()], ['Cfg/etc/motd/motd']);
  assert.equal([...loaded.repo.pluginFiles.keys()].sort(), ['Bundler/web.xml', 'Metadata/clients.xml', 'Metadata/groups.xml']);
  assert.equal(loaded.metadata.clients.map((c) => c.hostname), ['web1']);
  assert.equal([...loaded.repo.plugins].sort(), ['Bundler', 'Cfg', 'Metadata']);
});

test('a file the build user cannot read is an error naming the file and what to do', async () => {
  const e = await refused(scanRepo(repoWith({ 'Cfg/etc/shadow/shadow': { error: 'EACCES' } }), config));
  assert.equal([e.code, e.location.file], ['REPO', 'Cfg/etc/shadow/shadow']);
  assert.match(e.message, 'cannot read file: EACCES');
  assert.match(e.hint!, 'permissions');
  const m = await refused(load({ repo: '/nonexistent/repo', fs: repoWith({ 'Metadata/clients.xml': { error: 'EACCES' } }) }));
  assert.is(m.location.file, 'Metadata/clients.xml');
});

test('symbolic links out of the repository and dangling links are refused; links inside are read', async () => {
  const out = await refused(scanRepo(repoWith({ 'Cfg/etc/passwd/passwd': { link: '../../etc/passwd' } }), config));
  assert.equal([out.location.file, out.message], ['Cfg/etc/passwd/passwd', 'symbolic link points outside the repository; refused']);
  const dangling = await refused(scanRepo(repoWith({ 'Cfg/etc/gone/gone': { link: 'Cfg/etc/nowhere' } }), config));
  assert.match(dangling.message, 'points to nothing');
  const inside = await scanRepo(repoWith({ 'Cfg/etc/issue/issue': { link: 'Cfg/etc/motd/motd' } }), config);
  assert.is(inside.files.get('Cfg/etc/issue/issue')?.data.toString(), 'hello\n');
});

test('a file name with a NUL byte is refused; a directory without Metadata/ is not a repository', async () => {
  const nul = await refused(scanRepo(repoWith({ 'Cfg/etc/x/x\0y': 'z' }), config));
  assert.match(nul.message, 'NUL byte');
  const none = await refused(load({ repo: '/nonexistent/repo', fs: new MapFs({ 'Cfg/etc/motd/motd': 'x' }, '/nonexistent/repo') }));
  assert.equal([none.code, none.exitCode], ['not-a-repository', 2]);
});

test('malformed groups.xml names the file and line, with the line for the code frame', async () => {
  const source = '<Groups>\n  <Group name="a"\n</Groups>\n';
  const e = await refused(load({ repo: '/nonexistent/repo', fs: repoWith({ 'Metadata/groups.xml': source }) }));
  const m = e.toMessage();
  assert.is(m.code, 'xml-malformed');
  assert.is(m.location?.file, 'Metadata/groups.xml');
  assert.ok(m.location?.line, 'a line');
  assert.is(m.location?.lineText, source.split('\n')[m.location!.line! - 1]);
});

test.run();
