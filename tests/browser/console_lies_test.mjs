// The console's lawyer view in headless Chromium against a node that lies. A small server here
// serves the console's own files (server/http/console, with the node's security headers) and
// the API answers of docs/api.md for one case of two entries signed by a real Ed25519 author key
// (tests/browser/encode.mjs), then changes one thing at a time: a file's bytes, its length, its
// descriptor, its salt, the signed entry, the record, the timeline, the connection. Every change
// must end in "✗ Not verified" with the reason, and no Save link; the honest answers in "✓
// Verified". A real node cannot be made to lie like this (console_test.sh damages a stored chunk,
// which the node itself catches): this is the browser's own check, which must not rely on the
// node. Also the selective court bundle's request. Served over http://127.0.0.1, which browsers
// treat as a secure context (SubtleCrypto).
//
// Usage: node tests/browser/console_lies_test.mjs (KH_CHROMIUM: default /usr/bin/chromium;
// KH_ARTIFACTS: where screenshots go, default none). Needs tests/browser/node_modules.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import {
  authorFromSeed, cat, commitment, encodeDescriptor, encodeEntryUnsigned, encodeRecord, hex, sha256,
} from './encode.mjs';

const CONSOLE_DIR = new URL('../../server/http/console/', import.meta.url);
const CHROMIUM = process.env.KH_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.KH_ARTIFACTS || null;
if (ARTIFACTS) mkdirSync(ARTIFACTS, { recursive: true });
const TOKEN = `khr_${'5'.repeat(64)}`;
const CASE = 'case-2026-007';
const TIMEOUT = 20000;

// ---- one case as a node holds it: two entries, three files, real signatures ----

const author = await authorFromSeed(new Uint8Array(32).fill(7));
const origin = hex(sha256(new Uint8Array(32).fill(9)));  // the node's id; its key is not needed

function fileOf(name, mediaType, content) {
  const descriptor = { name, media_type: mediaType, size: content.length, sha256: hex(sha256(content)) };
  const descriptorBytes = encodeDescriptor(descriptor);
  const salt = randomBytes(32);
  return { descriptor, descriptorBytes, salt, content, commitment: commitment(salt, descriptorBytes) };
}

async function entryOf(index, kind, metadata, files, createdAt) {
  const e = {
    case: CASE, author: author.publicKey, created_at_ms: createdAt, kind,
    files: files.map((f) => f.commitment), metadata, corrects: null,
  };
  const bytes = await author.sign(encodeEntryUnsigned(e));
  const id = hex(randomBytes(32));  // a sealed entry id: the browser cannot check it, nor needs to
  const received = createdAt + 1500;
  const record = encodeRecord({
    origin, index, prev_record: '00'.repeat(32), object_id: id, received_at_ms: received,
  });
  return { index, id, e, bytes, files, record, received };
}

const photo = new Uint8Array(1500000);
for (let i = 0; i < photo.length; i++) photo[i] = (i * 31 + (i >> 9)) & 0xff;
const enc = new TextEncoder();
const statement = fileOf('statement.txt', 'text/plain', enc.encode('I saw the convoy pass the school at 06:40.\n'));
const entries = [
  await entryOf(0, 'evidence', { caption: 'photo\u202Egpj.exe', place: 'Kharkiv' },
    [statement, fileOf('photo.jpg', 'image/jpeg', photo)], 1795958216650),
  await entryOf(1, 'note', {}, [fileOf('follow-up.txt', 'text/plain', enc.encode('09:15\n'))],
    1795958300000),
];

// ---- the lies ----

let lie = 'none';
const bundleRequests = [];

function listing() {
  return entries.map((x) => {
    const item = {
      index: x.index, origin, entry_id: x.id, kind: x.e.kind, author: x.e.author,
      created_at_ms: x.e.created_at_ms, received_at_ms: x.received, metadata: { ...x.e.metadata },
      files: x.files.map((f, i) => ({ index: i, ...f.descriptor })),
    };
    if (x.index === 0 && lie === 'timeline-metadata') item.metadata.place = 'Kyiv';
    if (x.index === 0 && lie === 'timeline-name') item.files[0].name = 'statement (1).txt';
    if (x.index === 0 && lie === 'descriptor-renamed') item.files[0].name = 'statement.txt';
    if (x.index === 0 && lie === 'entry-id-path') item.entry_id = '../session';
    return item;
  });
}

async function entryAnswer(x) {
  let entryBytes = x.bytes;
  let record = x.record;
  const files = x.files.map((f, i) => ({
    index: i, descriptor: f.descriptor, descriptor_hex: hex(f.descriptorBytes), salt: hex(f.salt),
    commitment: f.commitment,
  }));
  if (lie === 'entry-forged') {  // one byte of the signed metadata, not signed again
    const at = hex(entryBytes).indexOf(hex(enc.encode('Kharkiv'))) / 2;
    entryBytes = entryBytes.slice();
    entryBytes[at] ^= 1;
  }
  if (lie === 'entry-other-case') {  // validly signed, but of another case
    entryBytes = await author.sign(encodeEntryUnsigned({ ...x.e, case: 'case-2026-008' }));
  }
  if (lie === 'entry-v1') {
    entryBytes = entryBytes.slice();
    entryBytes[2] = 1;
  }
  if (lie === 'record-other') {
    record = encodeRecord({ origin, index: x.index, prev_record: '00'.repeat(32),
      object_id: hex(randomBytes(32)), received_at_ms: x.received });
  }
  if (lie === 'descriptor-renamed') {  // the descriptor of another name, with the true salt
    files[0].descriptor_hex = hex(encodeDescriptor({ ...x.files[0].descriptor, name: 'statement.txt.exe' }));
  }
  if (lie === 'descriptor-resized') {
    files[0].descriptor_hex = hex(encodeDescriptor({ ...x.files[0].descriptor, size: 10 }));
  }
  if (lie === 'salt-swapped') files[0].salt = files[1].salt;
  if (lie === 'opening-of-file-1') {
    files[0].descriptor_hex = files[1].descriptor_hex;
    files[0].salt = files[1].salt;
  }
  if (lie === 'descriptor-garbage') files[0].descriptor_hex = `${files[0].descriptor_hex}00`;
  if (lie === 'no-opening') files.shift();
  return {
    entry_id: x.id, entry: {}, entry_hex: hex(entryBytes), files,
    record: { origin, index: x.index, record_hex: hex(record), leaf_hash: hex(sha256(cat(new Uint8Array([0]), record))) },
  };
}

function content(f) {
  let bytes = f.content;
  if (lie === 'content-flipped') {
    bytes = bytes.slice();
    bytes[bytes.length - 1] ^= 0x20;
  }
  if (lie === 'content-short') bytes = bytes.subarray(0, bytes.length - 1);
  // What a sealed file holds: the content padded with zero bytes to at least 4096.
  if (lie === 'content-padded') bytes = cat(bytes, new Uint8Array(4096 - bytes.length));
  return bytes;
}

// ---- the node ----

const SECURITY = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};
const TYPES = { html: 'text/html; charset=utf-8', css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8' };

function json(res, status, body) {
  res.writeHead(status, { ...SECURITY, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  if (path === '/' || /^\/console\/[a-z]+\.(html|css|js)$/.test(path)) {
    const name = path === '/' ? 'index.html' : path.slice(9);
    res.writeHead(200, { ...SECURITY, 'Content-Type': TYPES[name.split('.').pop()], 'Cache-Control': 'no-cache' });
    res.end(readFileSync(new URL(name, CONSOLE_DIR)));
    return;
  }
  if (req.headers.authorization !== `Bearer ${TOKEN}`) {
    json(res, 401, { error: 'unauthenticated', message: 'no such token' });
    return;
  }
  if (path === '/v1/session') {
    json(res, 200, {
      role: 'reader', all_cases: false, cases: [CASE], node: { name: 'ngo-kharkiv' },
      may: { read_entries: true, read_log: false, administer: false },
    });
  } else if (path === '/v1/cases') {
    json(res, 200, { cases: [{ case: CASE, entries: entries.length }] });
  } else if (path === `/v1/cases/${CASE}/entries`) {
    json(res, 200, { entries: listing(), next_after: null });
  } else if (path === '/v1/checkpoint/witnessed') {
    json(res, 404, { error: 'not_found', message: 'no cosigned checkpoint yet' });
  } else if (path === `/v1/cases/${CASE}/bundle`) {
    bundleRequests.push(url.search);
    const body = Buffer.alloc(10240);  // an empty tar: the server's bundle is not under test here
    res.writeHead(200, { ...SECURITY, 'Content-Type': 'application/x-tar', 'Content-Length': body.length,
      'X-Khronika-Entries': String(entries.length) });
    res.end(body);
  } else {
    const m = /^\/v1\/entries\/([0-9a-f]{64})(?:\/files\/([0-9]+)\/content)?$/.exec(path);
    const x = m && entries.find((e) => e.id === m[1]);
    if (!x) {
      json(res, 404, { error: 'not_found', message: `no route or entry ${path}` });
    } else if (m[2] === undefined) {
      json(res, 200, await entryAnswer(x));
    } else {
      const f = x.files[Number(m[2])];
      if (!f) return json(res, 404, { error: 'not_found', message: 'no such file' });
      if (lie === 'content-refused') {
        return json(res, 500, { error: 'corruption', message: `sealed chunk ${'ab'.repeat(32)} is damaged` });
      }
      const bytes = content(f);
      res.writeHead(200, { ...SECURITY, 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length });
      if (lie === 'cut-short') {
        res.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
        setTimeout(() => res.destroy(), 50);
      } else {
        res.end(bytes);
      }
    }
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch((e) => {
    console.error(e);
    res.destroy();
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const URL_A = `http://127.0.0.1:${server.address().port}`;

// ---- the browser ----

const problems = [];
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  timeout: 60000,
});

function step(text) {
  console.log(`- ${text}`);
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('request', (r) => {
    if (!r.url().startsWith(`${URL_A}/`) && !r.url().startsWith('blob:')) problems.push(`request to another origin: ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

  // Loads the case page afresh (the timeline is read when the page is shown).
  const openCase = async () => {
    await page.goto(`${URL_A}/#/cases/${CASE}`);
    await page.reload();
    await page.getByRole('heading', { name: `Case ${CASE}` }).waitFor();
  };
  // Clicks "Download and check" for a file and returns the verdict's text once it is shown.
  const check = async (name) => {
    const file = page.locator(`li.file[data-file="${name}"]`).first();
    await file.getByRole('button', { name: /^Download and check/ }).click();
    const verdict = file.locator('.verdict-slot .message');
    await verdict.waitFor();
    return { file, text: (await verdict.textContent()).replace(/\s+/g, ' '), kind: await verdict.getAttribute('class') };
  };
  const expectRefused = async (mode, name, why, reload = false) => {
    lie = mode;
    if (reload) await openCase();
    const { file, text, kind } = await check(name);
    assert.match(kind, /failed/, `${mode}: ${text}`);
    assert.match(text, /✗ Not verified/, mode);
    assert.match(text, why, `${mode}: ${text}`);
    assert.equal(await file.getByRole('link', { name: /^Save/ }).count(), 0, `${mode}: a Save link`);
    console.log(`  ${mode}: ${text}`);
    lie = 'none';
    if (reload) await openCase();
  };

  step('sign in as a lawyer and open the case');
  await page.goto(`${URL_A}/`);
  await page.getByLabel('Access token').fill(TOKEN);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Your cases' }).waitFor();
  await openCase();
  assert.equal(await page.locator('li.entry').count(), 2);
  assert.match(await page.locator('li.entry').first().textContent(), /caption: photo<U\+202E>gpj\.exe/);

  step('honest answers: every file verified, each check named');
  for (const name of ['statement.txt', 'photo.jpg', 'follow-up.txt']) {
    const { file, text, kind } = await check(name);
    assert.match(kind, /verified/, `${name}: ${text}`);
    assert.match(text, new RegExp(`✓ Verified: ${name.replace('.', '\\.')}`));
    const steps = await file.locator('.steps').textContent();
    assert.match(steps, /The author's signature on the entry is valid/);
    assert.match(steps, /Record \d of the log of node/);
    assert.match(steps, /salted commitment .* is in the signed entry/);
    assert.match(steps, /The file has the length and the SHA-256 the author signed/);
    if (name === 'statement.txt') {
      const [saved] = await Promise.all([page.waitForEvent('download'),
        file.getByRole('link', { name: 'Save statement.txt' }).click()]);
      assert.deepEqual(new Uint8Array(readFileSync(await saved.path())), statement.content);
    }
  }
  if (ARTIFACTS) await page.screenshot({ path: join(ARTIFACTS, 'lies-01-honest.png'), fullPage: true });

  step('a node that changes the file, its length, its description, its salt or the entry is refused');
  await expectRefused('content-flipped', 'statement.txt', /its SHA-256 is [0-9a-f]{64}; the author signed [0-9a-f]{64}/);
  await expectRefused('content-flipped', 'photo.jpg', /its SHA-256 is/);
  await expectRefused('content-short', 'statement.txt', /it has 42 bytes; the author signed 43/);
  await expectRefused('content-padded', 'statement.txt', /it has 4096 bytes; the author signed 43/);
  await expectRefused('cut-short', 'photo.jpg', /stopped sending after \d+ of 1500000 bytes/);
  await expectRefused('content-refused', 'statement.txt', /the node did not send the file: sealed chunk [0-9a-f]{64} is damaged\. Tell the node's operator/);
  await expectRefused('descriptor-renamed', 'statement.txt', /does not match the one the author signed/);
  await expectRefused('descriptor-resized', 'statement.txt', /does not match the one the author signed/);
  await expectRefused('salt-swapped', 'statement.txt', /does not match the one the author signed/);
  await expectRefused('opening-of-file-1', 'statement.txt', /does not match the one the author signed/);
  await expectRefused('descriptor-garbage', 'statement.txt', /description from the node cannot be read .*left over/);
  await expectRefused('no-opening', 'statement.txt', /did not send the file's signed description/);
  await expectRefused('entry-forged', 'statement.txt', /the author's signature on the entry is not valid/);
  await expectRefused('entry-other-case', 'statement.txt', /is of case case-2026-008, not of this case/);
  await expectRefused('entry-v1', 'statement.txt', /not a version 2 'E' object/);
  await expectRefused('record-other', 'statement.txt', /record 0 does not log this entry/);
  if (ARTIFACTS) {
    lie = 'content-flipped';
    await check('statement.txt');
    await page.locator('li.file[data-file="statement.txt"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, 'lies-02-refused.png'), fullPage: true });
    lie = 'none';
  }

  step('a timeline that says something the author did not sign is refused at download');
  await expectRefused('timeline-metadata', 'statement.txt', /timeline shows this entry differently/, true);
  await expectRefused('timeline-name', 'statement (1).txt', /timeline shows this file differently/, true);
  await expectRefused('entry-id-path', 'statement.txt', /not an entry id/, true);

  step('the whole court bundle, then a selective one');
  let [download] = await Promise.all([page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download the court bundle (.tar)' }).click()]);
  assert.equal(download.suggestedFilename(), `khronika-bundle-${CASE}.tar`);
  assert.equal(bundleRequests.pop(), '');
  await page.getByText('Disclose only some entries or files').click();
  await page.getByRole('button', { name: 'Download a bundle of what is chosen (.tar)' }).click();
  assert.match(await page.locator('.bundle-result').textContent(), /Choose at least one entry or one file name/);
  assert.equal(bundleRequests.length, 0);
  await page.getByLabel(/^Record 0: evidence/).check();
  await page.getByLabel('photo.jpg').check();
  [download] = await Promise.all([page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download a bundle of what is chosen (.tar)' }).click()]);
  assert.equal(download.suggestedFilename(), `khronika-bundle-${CASE}-selected.tar`);
  assert.equal(bundleRequests.pop(), `?entry=${entries[0].id}&file=photo.jpg`);
  assert.match(await page.locator('.bundle-result').textContent(), /1 chosen entry, their files named photo\.jpg only/);
  await page.getByLabel(/^Record 0: evidence/).uncheck();
  await page.getByLabel('follow-up.txt').check();
  // Waits for this download itself: the "verified" message of the one before is still shown, so
  // waiting for it raced the request (under load, the request was not there yet).
  [download] = await Promise.all([page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download a bundle of what is chosen (.tar)' }).click()]);
  assert.equal(download.suggestedFilename(), `khronika-bundle-${CASE}-selected.tar`);
  await page.locator('.bundle-result .message.verified').waitFor();
  assert.equal(bundleRequests.pop(), '?file=photo.jpg&file=follow-up.txt');
  assert.match(await page.locator('.bundle-result').textContent(),
    /the files named photo\.jpg, follow-up\.txt, in every entry that holds one/);
  if (ARTIFACTS) await page.screenshot({ path: join(ARTIFACTS, 'lies-03-selective-bundle.png'), fullPage: true });
  await context.close();
} catch (e) {
  console.error(e);
  problems.push(`failed: ${e.message}`);
} finally {
  await browser.close();
  server.close();
}

if (problems.length) {
  for (const p of problems) console.error(`FAIL ${p}`);
  process.exit(1);
}
console.log('ok: every lie refused in the browser, the honest answers verified');
