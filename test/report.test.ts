import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { bindery, ROOT, run, tempDir } from './helpers.ts';
import { decryptWith } from '../src/secrets/index.ts';

const CHROMIUM = '/usr/bin/chromium';
const work = tempDir('bindery-report-');
const key = join(work.dir, 'signing-key.pem');
const repo = join(work.dir, 'site');
const out = join(work.dir, 'out');
const report = join(work.dir, 'report.html');
const junit = join(work.dir, 'junit.xml');
const BROKEN = 'Cfg/etc/motd/motd.H_web2.example.com.liquid';
/** Every client of the sample. */
const HOSTS = (readFileSync(join(ROOT, 'sample-repo/Metadata/clients.xml'), 'utf8').match(/<Client /g) ?? []).length;
let second: { code: number; stdout: string; stderr: string };
let browser: Browser;

/** The compiled CLI from the work directory: annotation paths are relative to where it runs. */
const cli = (...args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'bindery.js'), ...args], { cwd: work.dir });

test.before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install the Debian package chromium`);
  writeFileSync(key, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
  cpSync(join(ROOT, 'sample-repo'), repo, { recursive: true });
  const first = await cli('build', repo, '--out', out, '--signing-key', key, '--no-validate');
  assert.is(first.code, 0, first.stderr);
  // The commit under review: every motd changes, one host's override does not parse.
  const motd = join(repo, 'Cfg/etc/motd/motd.liquid');
  writeFileSync(motd, readFileSync(motd, 'utf8') + 'Now with a report.\n');
  writeFileSync(join(repo, BROKEN), 'line one\n{% if %}\n');
  second = await cli('build', repo, '--out', out, '--signing-key', key, '--no-validate', '--keep-going', '--report', report, '--junit', junit, '--format', 'github');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
test.after(async () => {
  await browser?.close();
  work.cleanup();
});

test('with --keep-going a build with a failure publishes every host without its failed entry and exits 1', () => {
  assert.is(second.code, 1, second.stderr);
  assert.ok(existsSync(report), second.stderr);
});

test('--format github annotates the failure at its file and line, relative to the working directory', () => {
  const line = second.stdout.split('\n').find((l) => l.startsWith('::error '));
  assert.ok(line, second.stdout);
  assert.match(line!, new RegExp(`^::error file=site/${BROKEN.replace(/\./g, '\\.')},line=2,`));
  assert.match(line!, /host web2\.example\.com/);
});

test('--junit writes one test case per host, the failed host with its failure', () => {
  const xml = readFileSync(junit, 'utf8');
  assert.is((xml.match(/<testcase /g) ?? []).length, HOSTS);
  assert.match(xml, new RegExp(`<testsuites name="bindery build" tests="${HOSTS}" failures="1"`));
  assert.match(xml, /<testcase classname="bindery\.hosts" name="web2\.example\.com">\s*<failure message="\/etc\/motd: /);
  assert.match(xml, /<testcase classname="bindery\.hosts" name="web1\.example\.com"\/>/);
});

test('the report holds no secret, needs no network and names no outside resource', () => {
  const html = readFileSync(report, 'utf8');
  const plain = decryptWith(readFileSync(join(ROOT, 'sample-repo/Cfg/etc/app/secret.env/secret.env.crypt')), 'correct horse battery staple').toString('utf8');
  for (const line of plain.split('\n').filter((l) => l.includes('='))) assert.not.ok(html.includes(line), 'a secret line is in the report');
  assert.not.match(html, /PRIVATE KEY/);
  assert.not.match(html, /(src|href)=["']?(https?:)?\/\//i);
});

test('in Chromium: summary, search for a host, expand it, see why each file was chosen, and a screenshot', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const requests: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith('file:')) requests.push(r.url());
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('file://' + report);
  assert.match(await page.textContent('#summary') ?? '', new RegExp(`${HOSTS}\\s*hosts`));
  assert.match(await page.textContent('#summary') ?? '', /1\s*failures/);
  assert.match(await page.textContent('#summary') ?? '', /\d+\.\d\d\s*binding \(s\)/, 'the build measured its phases');
  assert.match(await page.textContent('#failures') ?? '', new RegExp(`${BROKEN.replace(/\./g, '\\.')}:2`), 'failures show file:line');
  assert.match(await page.textContent('#diff') ?? '', /Changes since the previous build/);
  await page.fill('#search', 'web1');
  assert.match(await page.textContent('#count') ?? '', new RegExp(`^1 of ${HOSTS} hosts`));
  await page.click('li[data-host="web1.example.com"] button');
  const motd = page.locator('li[data-host="web1.example.com"] tr[data-path="/etc/motd"]');
  assert.match(await motd.textContent() ?? '', /Cfg\/etc\/motd\/motd\.liquid.*liquid file for all clients/);
  const issue = page.locator('li[data-host="web1.example.com"] tr[data-path="/etc/issue"]');
  assert.match(await issue.textContent() ?? '', /delta issue\.G50_production\.cat/);
  const secret = page.locator('li[data-host="web1.example.com"] tr[data-path="/etc/app/secret.env"]');
  assert.match(await secret.textContent() ?? '', /\(secret\)/);
  assert.match(await secret.textContent() ?? '', /owner, group, mode from Cfg\/etc\/app\/secret\.env\/info\.xml/);
  const shot = join(work.dir, 'report.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 10_000);
  assert.equal(readFileSync(shot).subarray(0, 8), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  await page.fill('#search', 'no-such-host');
  assert.match(await page.textContent('#count') ?? '', new RegExp(`^0 of ${HOSTS} hosts`));
  assert.equal(errors, []);
  assert.equal(requests, [], 'the report loads nothing from the network');
  await page.close();
});

test('bindery report <out> writes the same kind of report from a published build', async () => {
  const dest = join(work.dir, 'again.html');
  const r = await bindery(['report', out, '--output', dest, '--repo', repo, '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.is((JSON.parse(r.stdout) as { report: string }).report, dest);
  const html = readFileSync(dest, 'utf8');
  assert.match(html, /"n":"web1\.example\.com"/);
  assert.match(html, /Now with a report\./, 'the diff against the previous build is in it');
});

test('a host published without its failed entry lists the failure with file:line, and its other files', async () => {
  const page = await browser.newPage();
  await page.goto('file://' + report);
  await page.fill('#search', 'web2');
  await page.click('li[data-host="web2.example.com"] button');
  const host = page.locator('li[data-host="web2.example.com"]');
  assert.match(await host.textContent() ?? '', /failed paths:/);
  assert.match(await host.textContent() ?? '', new RegExp(`${BROKEN.replace(/\./g, '\\.')}:2`));
  assert.is(await host.locator('tr[data-path="/etc/motd"]').count(), 0, 'the failed entry is not among its files');
  assert.is(await host.locator('tr[data-path="/etc/issue"]').count(), 1);
  await page.close();
});

test.run();
