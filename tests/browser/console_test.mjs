// The console in headless Chromium, driven by playwright-core. Started by console_test.sh, which
// sets up the nodes and passes (in the environment) the URL, tokens, the files submitted, the
// command that damages a stored chunk, and where screenshots go. Each step says what a person
// would see; any failed expectation, request to another origin, or CSP violation fails the test.
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run console_test.sh)`);
  return v;
};
const URL_A = env('KH_URL');
const ARTIFACTS = env('KH_ARTIFACTS');
const FILES = env('KH_FILES');
// The index of the first entry: A's log opens with the custody records of its tokens' grants.
const FIRST = Number(env('KH_FIRST'));
const TIMEOUT = 20000;

const problems = [];
let stepStart = Date.now();
function step(text) {
  const now = Date.now();
  console.log(`  (${now - stepStart} ms)\n- ${text}`);
  stepStart = now;
}

const browser = await chromium.launch({
  executablePath: env('KH_CHROMIUM'),
  // As root in a sandboxed test machine; no background traffic to anywhere.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timeout: 60000,
});

// A page that records every request and every console error, so that the test can insist on
// "no third-party requests" and "nothing blocked by the Content-Security-Policy".
async function newPage(viewport) {
  // The node's certificate is self-signed (pinned by its users): accepted here, in the test only.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(`${URL_A}/`) && !u.startsWith('data:') && !u.startsWith('blob:')) {
      problems.push(`request to another origin: ${u}`);
    }
  });
  page.on('console', (m) => {
    // Failed loads (the 401 of a wrong token, the download cut short) are expected and checked
    // by the steps; anything else, a CSP violation first of all, is a failure.
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return { context, page };
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
}

async function signIn(page, token) {
  await page.goto(`${URL_A}/`);
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

try {
  // ---------------------------------------------------------------- sign-in and headers
  step('the console loads from / with its security headers');
  let { context, page } = await newPage({ width: 1280, height: 900 });
  const response = await page.goto(`${URL_A}/`);
  assert.equal(response.status(), 200);
  const headers = response.headers();
  assert.equal(headers['content-security-policy'],
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['referrer-policy'], 'no-referrer');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  // Nobody is signed in yet: no "Sign out", and the footer says what the browser check cannot prove.
  assert.equal(await page.getByRole('button', { name: 'Sign out' }).isVisible(), false);
  assert.match(await page.locator('footer').textContent(), /serves altered code[\s\S]*verify-bundle/);
  // The token field has the focus at once: sign-in works from the keyboard alone.
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'token');
  await shot(page, '01-sign-in.png');

  step('a wrong token is refused');
  await page.keyboard.type(`khr_${'0'.repeat(64)}`);
  await page.keyboard.press('Enter');
  const refusal = page.locator('#sign-in-error');
  await refusal.waitFor({ state: 'visible' });
  assert.match(await refusal.textContent(), /refused this token/);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await shot(page, '02-wrong-token.png');

  // ---------------------------------------------------------------- lawyer
  step('a lawyer signs in with the keyboard and sees only the cases of the token');
  await page.getByLabel('Access token').fill(env('KH_READER'));
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Your cases' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'case-2026-001' }).count(), 1);
  assert.equal(await page.getByText('case-2026-002').count(), 0);
  // The token lives in sessionStorage only: no cookie, nothing in localStorage.
  const storage = await page.evaluate(() => ({
    session: sessionStorage.getItem('khronika.token'), local: localStorage.length, cookie: document.cookie,
  }));
  assert.equal(storage.session, env('KH_READER'));
  assert.equal(storage.local, 0);
  assert.equal(storage.cookie, '');
  // No Logs or Node tab for a reader.
  assert.deepEqual(await page.locator('#tabs a').allTextContents(), ['Cases']);

  step('the case timeline: entries, authors, times, record numbers, cosigning organisations');
  await page.getByRole('link', { name: 'case-2026-001' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Case case-2026-001' }).waitFor();
  const entries = page.locator('li.entry');
  assert.equal(await entries.count(), 2);
  const first = entries.nth(0);
  assert.match(await first.textContent(), new RegExp(`Record ${FIRST}: evidence`));
  assert.match(await first.textContent(), /place: Kharkiv/);
  // The caption's right-to-left override (U+202E) is written out, not obeyed.
  assert.match(await first.textContent(), /caption: photo<U\+202E>gpj\.exe/);
  assert.ok(!(await first.textContent()).includes('\u202E'), 'U+202E shown raw');
  assert.match(await first.textContent(), /1 partner organisation/);
  assert.match(await entries.nth(1).textContent(), new RegExp(`Record ${FIRST + 2}: note`));

  step('download statement.txt: checked in the browser, "verified"');
  const statement = page.locator('li.file[data-file="statement.txt"]');
  await statement.getByRole('button', { name: 'Download and check statement.txt' }).click();
  await statement.locator('.message.verified').waitFor();
  assert.match(await statement.locator('.verdict').textContent(), /✓ Verified: statement\.txt/);
  const [saved] = await Promise.all([page.waitForEvent('download'), statement.getByRole('link', { name: 'Save statement.txt' }).click()]);
  assert.deepEqual(readFileSync(await saved.path()), readFileSync(join(FILES, 'statement.txt')));

  // Each check the browser made is listed: the author's signature (Chromium has Ed25519), the
  // record, the signed commitment of the file's description, the file's length and SHA-256.
  const statementSteps = await statement.locator('.steps').textContent();
  assert.match(statementSteps, /The author's signature on the entry is valid/);
  assert.match(statementSteps, new RegExp(`Record ${FIRST} of the log of node`));
  assert.match(statementSteps, /file 1 of 2: statement\.txt.*salted commitment .* is in the signed entry/);
  assert.match(statementSteps, /The file has the length and the SHA-256 the author signed/);

  step('download photo.jpg (1.5 MB, two sealed chunks on the node): verified');
  const photo = page.locator('li.file[data-file="photo.jpg"]');
  await photo.getByRole('button', { name: 'Download and check photo.jpg' }).click();
  await photo.locator('.message.verified').waitFor();
  assert.match(await photo.textContent(), /file 2 of 2: photo\.jpg, 1\.4 MiB \(1,500,000 bytes\)/);
  await shot(page, '03-lawyer-verified.png');
  // The picture in docs/lawyer.md: one entry with its two files verified, at a modest width.
  await page.setViewportSize({ width: 960, height: 900 });
  await entries.nth(0).screenshot({ path: join(ARTIFACTS, 'console-lawyer.png') });
  await page.setViewportSize({ width: 1280, height: 900 });

  step('export the court bundle as a .tar');
  const [bundle] = await Promise.all([page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download the court bundle (.tar)' }).click()]);
  assert.equal(bundle.suggestedFilename(), 'khronika-bundle-case-2026-001.tar');
  await bundle.saveAs(join(ARTIFACTS, 'khronika-bundle-case-2026-001.tar'));
  await page.locator('.bundle-result .message.verified').waitFor();

  step('a selective court bundle: the first entry, photo.jpg only');
  await page.getByText('Disclose only some entries or files').click();
  await page.getByLabel(new RegExp(`^Record ${FIRST}: evidence`)).check();
  await page.getByLabel('photo.jpg').check();
  const [selected] = await Promise.all([page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download a bundle of what is chosen (.tar)' }).click()]);
  assert.equal(selected.suggestedFilename(), 'khronika-bundle-case-2026-001-selected.tar');
  await selected.saveAs(join(ARTIFACTS, 'khronika-bundle-case-2026-001-selected.tar'));
  assert.match(await page.locator('.bundle-result').textContent(), /1 chosen entry, their files named photo\.jpg only/);

  step('a sealed chunk of statement.txt is damaged on the node: the same download now shows the failure');
  const entryId = await entries.nth(0).getAttribute('data-entry');
  const fileIndex = await statement.getAttribute('data-index');
  console.log(execSync(`${env('KH_CORRUPT')} ${entryId} ${fileIndex}`).toString().trim());
  await statement.getByRole('button', { name: 'Download and check statement.txt' }).click();
  await statement.locator('.message.failed').waitFor();
  const failure = await statement.locator('.message.failed').textContent();
  assert.match(failure, /✗ Not verified: statement\.txt/);
  // The node re-hashes each sealed chunk as it reads it: it refuses to send the file, or stops.
  assert.match(failure, /the node did not send the file: .*sealed chunk [0-9a-f]{64}|the node stopped sending/);
  assert.equal(await statement.locator('.message.verified').count(), 0);
  assert.equal(await statement.getByRole('link', { name: /Save/ }).count(), 0);
  await statement.scrollIntoViewIfNeeded();
  await shot(page, '04-lawyer-corrupted.png');
  console.log(`  shown: ${failure.replace(/\s+/g, ' ')}`);
  await context.close();

  // ---------------------------------------------------------------- phone width
  step('the lawyer view at phone width (375 px): nothing wider than the screen');
  ({ context, page } = await newPage({ width: 375, height: 812 }));
  await signIn(page, env('KH_READER'));
  await page.getByRole('link', { name: 'case-2026-001' }).click();
  await page.getByRole('heading', { name: 'Case case-2026-001' }).waitFor();
  const photoPhone = page.locator('li.file[data-file="photo.jpg"]');
  await photoPhone.getByRole('button', { name: 'Download and check photo.jpg' }).click();
  await photoPhone.locator('.message.verified').waitFor();
  const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, view: window.innerWidth }));
  assert.ok(widths.doc <= widths.view, `the page is ${widths.doc} px wide on a ${widths.view} px screen`);
  await shot(page, '07-phone-lawyer.png');

  step('signing out forgets the token');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await context.close();

  // ---------------------------------------------------------------- auditor
  step('an auditor: logs, checkpoint signatures and cosigners checked in the browser');
  ({ context, page } = await newPage({ width: 1280, height: 900 }));
  await signIn(page, env('KH_AUDITOR'));
  await page.getByRole('heading', { name: 'Logs held by this node' }).waitFor();
  assert.deepEqual(await page.locator('#tabs a').allTextContents(), ['Logs']);
  const own = page.locator('section.log').first();
  // The lawyer's reads above became custody records of A's log (within custody_interval_ms):
  // A sends each new checkpoint to B, which pulls what it lacks and cosigns. On a loaded machine
  // that round trip can outlast the steps in between, so the view is reloaded until it shows it.
  for (let tries = 0; tries < 60 && !/✓ cosignature valid/.test(await own.textContent()); tries++) {
    await page.waitForTimeout(500);
    await page.reload();
    await page.getByRole('heading', { name: 'Logs held by this node' }).waitFor();
  }
  assert.match(await own.textContent(), /This node's own log/);
  assert.match(await own.textContent(), /✓ signed by the origin \(checked here\)/);
  assert.match(await own.textContent(), /✓ cosignature valid/);
  assert.match(await page.locator('body').textContent(), /No conflicting checkpoints/);
  // An auditor never sees cases or files.
  assert.equal(await page.getByText('case-2026-001').count(), 0);

  step('the auditor checks an inclusion proof, computed in the browser');
  await page.getByLabel('Record number').fill('1');
  await page.getByRole('button', { name: 'Check inclusion' }).click();
  await page.locator('#proof-result .message.verified').waitFor();
  assert.match(await page.locator('#proof-result').textContent(), /✓ Proven: record 1 is in the log/);
  assert.match(await page.locator('#proof-result').textContent(), /Level 2: combined with/);
  await shot(page, '05-auditor-proof.png');

  step('a record beyond the checkpoint is not proven');
  await page.getByLabel('Record number').fill('999');
  await page.getByRole('button', { name: 'Check inclusion' }).click();
  await page.locator('#proof-result .message.failed').waitFor();

  step('the auditor cannot reach the lawyer view');
  await page.goto(`${URL_A}/#/cases`);
  await page.getByRole('heading', { name: 'Page not found' }).waitFor();
  await context.close();

  // ---------------------------------------------------------------- operator
  step('the operator: status, peers and their lag, storage, recent access');
  ({ context, page } = await newPage({ width: 1280, height: 900 }));
  await signIn(page, env('KH_ADMIN'));
  await page.getByRole('heading', { name: 'Node ngo-kharkiv' }).waitFor();
  assert.deepEqual(await page.locator('#tabs a').allTextContents(), ['Cases', 'Logs', 'Node']);
  const body = await page.locator('main').textContent();
  assert.match(body, /used of/);
  assert.match(body, /Peers/);
  assert.match(body, /Records behind/);
  assert.match(body, /serve only: it pulls from this node, which never pulls from it/);
  assert.match(body, /read-content/);
  assert.match(body, /export/);
  await shot(page, '06-operator.png');
  await context.close();

  // ---------------------------------------------------------------- a submitter token
  step('a submitter token signs in but has nothing to read');
  ({ context, page } = await newPage({ width: 1280, height: 900 }));
  await signIn(page, env('KH_SUBMITTER'));
  await page.getByRole('heading', { name: 'Nothing to show for this token' }).waitFor();
  await context.close();
} catch (e) {
  console.error(e);
  problems.push(`failed: ${e.message}`);
} finally {
  await browser.close();
}

if (problems.length) {
  for (const p of problems) console.error(`FAIL ${p}`);
  process.exit(1);
}
console.log('  ok: every step passed, no third-party request, no console error');
