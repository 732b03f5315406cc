// axe-core accessibility checks of Chorus's pages in headless Chromium. Run through scripts/browser-test
// after run.mjs, against the same fresh server: it sets CHORUS_URL (http://127.0.0.1:PORT),
// SCREENSHOT_DIR, CHORUS_ADMIN, CHORUS_ADMIN_PASSWORD_FILE and CHORUS_PASSPHRASE_FILE (the first admin and
// steward passphrase that `chorus init` was given).
//
// Checked with the rules tagged wcag2a, wcag2aa, wcag21a, wcag21aa and best-practice: the landing page,
// the form in English and Simplified Chinese (JS on and JS off), the receipt, the withdrawal page and
// its confirmation (JS on and off), the safety page, the staff sign-in, the staff dashboard, the
// snapshot list and a snapshot, and a published report (logged out). A violation of impact serious or
// critical fails the run; moderate and minor ones are printed as notes. To get a published report it
// submits 60 answers through the JSON API, signs in, runs a snapshot and publishes it. It also saves
// screenshots of the report and the dashboard, prints the report to PDF and turns its first page into
// a PNG (pdftoppm) so the print stylesheet can be looked at.
// Only loopback is ever reached: every request to another host is aborted.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { optionInput, optionLabel } from './options.mjs';

const BASE = (process.env.CHORUS_URL || '').replace(/\/$/, '');
// The bundled survey's public address: eight hex digits derived from its slug (config `survey_paths`
// unset). The slug itself is no address (/s/harms is a 404), so nothing here names it.
const SHOTS = process.env.SCREENSHOT_DIR || 'target/screenshots';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ADMIN = process.env.CHORUS_ADMIN || 'admin';
const FILL_MS = 3500; // the server refuses a form sent back sooner than CHORUS_MIN_FILL_SECONDS (3)
const TOTAL_MS = 170_000;
const RESPONSES = 60;
const AXE_PATH = fileURLToPath(new URL('./node_modules/axe-core/axe.min.js', import.meta.url));
const AXE_OPTIONS = { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } };
const FAILING = new Set(['serious', 'critical']);

if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(BASE)) {
  console.error(`FATAL: CHORUS_URL must be http://127.0.0.1:PORT, got ${JSON.stringify(BASE)}`);
  process.exit(2);
}
const secret = (name) => {
  const file = process.env[name];
  if (!file) {
    console.error(`FATAL: ${name} is not set`);
    process.exit(2);
  }
  return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
};
const PASSWORD = secret('CHORUS_ADMIN_PASSWORD_FILE');
const PASSPHRASE = secret('CHORUS_PASSPHRASE_FILE');
mkdirSync(SHOTS, { recursive: true });

const watchdog = setTimeout(() => {
  console.error(`FATAL: the accessibility checks did not finish within ${TOTAL_MS / 1000} s`);
  process.exit(3);
}, TOTAL_MS);
watchdog.unref();

let passed = 0;
const notes = [];
const violations = []; // serious or critical: each fails the run
const failures = []; // app faults found on the way that fail the run without stopping it
function ok(what) {
  passed += 1;
  console.log(`ok ${passed} - ${what}`);
}
function note(what) {
  notes.push(what);
  console.log(`note - ${what}`);
}
class CheckFailed extends Error {}
function assert(cond, what) {
  if (!cond) throw new CheckFailed(what);
}

const isLocal = (url) => {
  try {
    const u = new URL(url);
    return u.protocol === 'data:' || u.protocol === 'about:' || u.hostname === '127.0.0.1';
  } catch {
    return false;
  }
};

// Like run.mjs: every request to a host other than 127.0.0.1 is aborted and recorded (and Chromium
// resolves no host name at all). bypassCSP lets axe be injected as a script tag: the app's CSP
// (script-src 'self') would otherwise refuse the inline script, and no page script is changed by it.
//
// "JS off" here means the page's own scripts never load: every script request is aborted. A context
// with javaScriptEnabled: false cannot be used, because there axe.run never settles (Chromium fires no
// timer in a page whose scripting is disabled, and axe waits on timers). The templates have no
// <noscript> and no inline script, so with chorus.js blocked the page is the one a no-JS browser shows;
// assertNoPageScript checks that chorus.js was indeed requested and refused.
const contexts = [];
async function newContext(browser, label, { pageScripts = true } = {}) {
  const context = await browser.newContext({ bypassCSP: true, locale: 'en-US', viewport: { width: 1024, height: 800 } });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  const rec = { label, context, js: pageScripts, outside: [], blockedScripts: [], fixNullOrigin: false, nullOrigins: 0 };
  await context.route('**/*', async (route) => {
    const req = route.request();
    const url = req.url();
    if (isLocal(url)) {
      if (!pageScripts && req.resourceType() === 'script') {
        rec.blockedScripts.push(url);
        return route.abort('blockedbyclient');
      }
      // Only once the app was seen refusing it (see staff()): a form POST from a page served with
      // Referrer-Policy: no-referrer carries "Origin: null" (Fetch standard), which the staff side
      // takes for a cross-site request; the test then sends it itself with the page's own origin
      // (Chromium ignores an Origin given to route.continue) and hands the answer, a 303, back.
      if (rec.fixNullOrigin && req.method() === 'POST' && (await req.headerValue('origin')) === 'null') {
        rec.nullOrigins += 1;
        const res = await route.fetch({ headers: { ...req.headers(), origin: new URL(url).origin }, maxRedirects: 0, timeout: 60_000 });
        return route.fulfill({ response: res });
      }
      return route.continue();
    }
    rec.outside.push(url);
    return route.abort('blockedbyclient');
  });
  context.on('request', (req) => {
    if (!isLocal(req.url()) && !rec.outside.includes(req.url())) rec.outside.push(req.url());
  });
  contexts.push(rec);
  return rec;
}

async function fillWait(since) {
  const left = FILL_MS - (Date.now() - since);
  if (left > 0) await new Promise((r) => setTimeout(r, left));
}

async function goto(page, url) {
  const res = await page.goto(`${BASE}${url}`);
  assert(res && res.ok(), `GET ${url} answered ${res ? res.status() : 'nothing'}`);
}

const short = (s, n = 160) => (s.length > n ? `${s.slice(0, n - 1)}…` : s).replace(/\s+/g, ' ');

// Runs axe on the page as it is now: axe.min.js goes in through a script tag (never a request).
async function audit(page, rec, what) {
  const label = `${what} (${rec.js ? 'JS on' : 'JS off'})`;
  if (!rec.js) {
    assert(rec.blockedScripts.some((u) => new URL(u).pathname === '/static/chorus.js'), `${label}: chorus.js was never requested, so blocking it proves nothing`);
  }
  await page.addScriptTag({ path: AXE_PATH });
  assert(await page.evaluate(() => typeof window.axe === 'object' && typeof window.axe.run === 'function'), `${label}: axe-core did not load`);
  const result = await page.evaluate((options) => window.axe.run(document, options).then((r) => ({
    passes: r.passes.length,
    incomplete: r.incomplete.length,
    violations: r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), html: n.html, impact: n.impact })),
    })),
  })), AXE_OPTIONS);
  let bad = 0;
  let mild = 0;
  for (const v of result.violations) {
    const where = v.nodes.slice(0, 4).map((n) => `${n.target} ${short(n.html, 120)}`).join(' | ');
    const more = v.nodes.length > 4 ? ` (+${v.nodes.length - 4} more)` : '';
    const line = `axe ${v.impact} ${v.id} on ${label} at ${page.url().replace(BASE, '')}: ${v.help}; ${v.nodes.length} element(s): ${where}${more}`;
    if (FAILING.has(v.impact)) {
      bad += 1;
      violations.push(line);
      console.log(`FAIL - ${line}`);
    } else {
      mild += 1;
      note(line);
    }
  }
  if (bad === 0) {
    ok(`axe: ${label} has no serious or critical violation (${result.passes} rules pass, ${mild} moderate/minor, ${result.incomplete} need review)`);
  }
}

// Version 2 of the default survey asks its screening question ("Are you 18 or older?") alone first,
// on a page of its own: tick Yes and press Continue to reach the form (the answer rides along in a
// hidden field). Does nothing on a page that is already the form.
async function passScreening(page) {
  if (!(await page.locator('input[name="step"][value="screen"]').count())) return;
  await page.locator(optionLabel('in-adult-yes')).click();
  await Promise.all([page.waitForEvent('load'), page.locator('form button.submit').click()]);
}

// After a form submission: the receipt code, or a clear failure naming what the page said instead.
async function expectReceipt(page, where) {
  const code = page.locator('main .code-shown');
  try {
    await code.waitFor({ state: 'visible', timeout: 15_000 });
  } catch {
    const said = await page.locator('main').innerText().catch(() => '(no main)');
    throw new CheckFailed(`${where}: no receipt page; the page says: ${short(said, 400)}`);
  }
  return (await page.locator('main .code-shown .groups').innerText()).replace(/\s+/g, '');
}

// The respondent pages, in one context: landing, form (en, zh-Hans), receipt, withdrawal, safety.
async function respondent(browser, javaScriptEnabled) {
  const rec = await newContext(browser, javaScriptEnabled ? 'respondent JS' : 'respondent no-JS', { pageScripts: javaScriptEnabled });
  const page = await rec.context.newPage();
  if (javaScriptEnabled) {
    await goto(page, '/');
    await audit(page, rec, 'landing page /');
  }
  await goto(page, '/s/15977e8c?lang=zh-Hans');
  await audit(page, rec, 'screening step /s/15977e8c?lang=zh-Hans');
  await passScreening(page);
  await audit(page, rec, 'form /s/15977e8c?lang=zh-Hans');

  await goto(page, '/s/15977e8c?lang=en');
  await passScreening(page);
  const loaded = Date.now();
  const hidden = await page.locator('.conditional').evaluateAll((els) => els.filter((e) => e.getClientRects().length === 0).length);
  if (javaScriptEnabled) assert(hidden > 0, 'respondent JS: chorus.js did not hide the conditional groups');
  else assert(hidden === 0, `respondent no-JS: ${hidden} conditional group(s) hidden although no page script ran`);
  await audit(page, rec, 'form /s/15977e8c?lang=en');
  await page.locator(optionLabel('in-age-25_34')).click();
  await page.locator(optionLabel('in-officials-bylaw')).click();
  assert((await page.locator('input[name="website"]').inputValue()) === '', 'the honeypot field "website" is not empty');
  await fillWait(loaded);
  await page.locator('button.submit').click();
  const receipt = await expectReceipt(page, `${rec.label} submission`);
  await audit(page, rec, 'receipt page (after POST /s/15977e8c)');

  await goto(page, '/withdraw?lang=en');
  await audit(page, rec, 'withdrawal page /withdraw');
  await page.locator('#receipt').fill(receipt);
  await page.locator('main form button[type=submit]').click();
  await page.locator('[role=status]').waitFor({ state: 'visible', timeout: 15_000 }).catch(() => {
    throw new CheckFailed(`${rec.label}: the withdrawal confirmation ([role=status]) did not appear`);
  });
  await audit(page, rec, 'withdrawal confirmation (after POST /withdraw)');

  if (javaScriptEnabled) {
    await goto(page, '/safety');
    await audit(page, rec, 'safety page /safety');
    await goto(page, '/staff/login');
    await audit(page, rec, 'staff sign-in /staff/login');
  }
  await page.close();
}

// 60 answers through the JSON API (the server runs with CHORUS_SUBMIT_LIMIT_PER_HOUR=0), so that a
// snapshot has counts of k = 10 and more to show.
async function seedResponses() {
  const ages = ['18_24', '25_34', '25_34', '35_44', '45_plus'];
  const regions = ['on', 'on', 'bc', 'qc'];
  const work = ['sex_work', 'sex_work', 'massage_only', 'both'];
  for (let i = 0; i < RESPONSES; i++) {
    const answers = { age: ages[i % ages.length], region: regions[i % regions.length], work_type: work[(i >> 1) % work.length] };
    const res = await fetch(`${BASE}/api/v1/surveys/15977e8c/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ answers }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    assert(res.ok, `POST /api/v1/surveys/15977e8c/responses #${i + 1} answered ${res.status}: ${short(text, 300)}`);
  }
  ok(`setup: ${RESPONSES} answers submitted through POST /api/v1/surveys/15977e8c/responses`);
}

// Signs in, checks the dashboard, runs and publishes a snapshot; returns its id, and the page that
// shows it (its check runs beside the public report's: axe takes long on a report's hundreds of tables).
async function staff(browser) {
  const rec = await newContext(browser, 'staff');
  const page = await rec.context.newPage();
  const signIn = async () => {
    await goto(page, '/staff/login');
    await page.locator('#name').fill(ADMIN);
    await page.locator('#password').fill(PASSWORD);
    const [res] = await Promise.all([page.waitForNavigation(), page.locator('form[action="/staff/login"] button[type=submit]').click()]);
    return { status: res ? res.status() : 0, text: short(await page.locator('body').innerText(), 300) };
  };
  let signed = await signIn();
  if (signed.status === 403 && /cross-site/i.test(signed.text)) {
    // A genuine app bug, not an axe finding: it fails the run, and the staff pages are still checked.
    failures.push('staff sign-in: the app answers 403 "Cross-site request refused." to Chromium\'s own same-origin form POST ' +
      '(the page\'s Referrer-Policy: no-referrer makes Chromium send "Origin: null", which foreign_origin() refuses); ' +
      'every staff form (sign-in, snapshot, publish) is affected');
    console.log(`FAIL - ${failures[failures.length - 1]}`);
    rec.fixNullOrigin = true;
    signed = await signIn();
    note('staff: continuing with "Origin: null" replaced by the page\'s origin on staff POSTs, to reach the remaining pages');
  }
  assert(!new URL(page.url()).pathname.startsWith('/staff/login'), `staff: sign-in failed (${signed.status}); the page says: ${signed.text}`);
  ok(`staff: signed in as ${ADMIN}`);

  await goto(page, '/staff');
  await audit(page, rec, 'staff dashboard /staff');
  await page.screenshot({ path: path.join(SHOTS, 'dashboard.png'), fullPage: true });
  ok('screenshot: dashboard.png');

  await goto(page, '/staff/reports');
  await audit(page, rec, 'staff snapshots /staff/reports');
  const through = await page.locator('#through').inputValue();
  const now = new Date();
  const month = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}`;
  assert(/^\d{4}-\d{2}$/.test(through), `staff: the "through" field holds ${JSON.stringify(through)}`);
  if (through !== month) note(`staff: the "through" field is prefilled with ${through}, not this month (${month} local time); kept as is`);
  await page.locator('#survey').selectOption('harms');
  await page.locator('#passphrase').fill(PASSPHRASE);
  await Promise.all([
    page.waitForURL(/\/staff\/reports\/[^/?#]+$/, { timeout: 60_000 }),
    page.locator('form[action="/staff/reports"] button[type=submit]').click(),
  ]).catch(async () => {
    throw new CheckFailed(`staff: the snapshot did not land on /staff/reports/{id}; the page says: ${short(await page.locator('main').innerText().catch(() => ''), 400)}`);
  });
  const id = new URL(page.url()).pathname.split('/').pop();
  ok(`staff: snapshot ${id} of harms through ${through} made`);

  const preview = page.getByRole('link', { name: 'Publish to /reports (preview first)' });
  assert((await preview.count()) === 1, 'staff: no "Publish to /reports (preview first)" link on the release page');
  await Promise.all([page.waitForNavigation(), preview.click()]);
  await audit(page, rec, `staff publish preview /staff/reports/${id}/publish`);
  const headline = page.locator('input[name=headline]').first();
  assert((await headline.count()) === 1, 'staff: the publish preview offers no figure for the fact sheet');
  // The label is the tap target (it covers the box), as on respondent pages.
  await page.locator(`label[for="${await headline.getAttribute('id')}"]`).click();
  assert(await headline.isChecked(), 'staff: clicking a figure\'s label did not choose it');
  const publish = page.getByRole('button', { name: 'Publish', exact: true });
  await Promise.all([page.waitForNavigation(), publish.click()]);
  const status = await page.locator('.staff-actions strong').first().innerText().catch(() => '');
  assert(status.trim() === 'published', `staff: after "Publish" the snapshot's status is ${JSON.stringify(status)}`);
  ok(`staff: snapshot ${id} published`);
  return { id, page, rec };
}

// The published report in a fresh, logged-out context: axe, a full-page screenshot, and a PDF print.
async function publicReport(browser, id) {
  const rec = await newContext(browser, 'public report');
  const page = await rec.context.newPage();
  await goto(page, `/reports/${id}`);
  assert((await rec.context.cookies()).length === 0, 'public report: the logged-out context holds a cookie');
  await audit(page, rec, `public report /reports/${id}`);
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: path.join(SHOTS, 'report.png'), fullPage: true, timeout: 60_000 });
  ok('screenshot: report.png');

  const pdf = path.join(SHOTS, 'report.pdf');
  await page.pdf({ path: pdf, format: 'A4', printBackground: true });
  const prefix = path.join(SHOTS, 'report-print');
  execFileSync('pdftoppm', ['-png', '-r', '60', '-f', '1', '-l', '1', '-singlefile', pdf, prefix], { timeout: 30_000 });
  ok('print: report.pdf, first page as report-print.png (pdftoppm -r 60)');
  await page.emulateMedia({ media: 'print' });
  const printed = await page.evaluate(() => {
    const shown = (sel) => [...document.querySelectorAll(sel)].filter((e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden').length;
    return { exit: shown('#quick-exit, .quick-exit'), nav: shown('nav'), skip: shown('a.skip') };
  });
  const printSummary = `quick-exit ${printed.exit}, nav ${printed.nav}, skip link ${printed.skip}`;
  if (printed.exit + printed.nav + printed.skip === 0) ok(`print: /reports/${id} under print media shows no quick-exit, nav or skip link`);
  else note(`print: /reports/${id} under print media still shows: ${printSummary}`);

  await goto(page, '/reports');
  await page.emulateMedia({ media: 'screen' });
  await audit(page, rec, 'report list /reports');

  // The fact sheet prints on one or two A4 pages, and no headline figure is split across a page.
  await goto(page, `/reports/${id}/factsheet`);
  await audit(page, rec, `fact sheet /reports/${id}/factsheet`);
  const figures = await page.locator('.headline').count();
  assert(figures >= 1, 'fact sheet: the figure chosen when publishing is not on it');
  await page.emulateMedia({ media: 'print' });
  const sheet = await page.pdf({ format: 'A4', printBackground: true });
  const pages = (sheet.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
  assert(pages >= 1 && pages <= 2, `fact sheet: printed on ${pages} pages, not one or two`);
  const unbreakable = await page.evaluate(() => [...document.querySelectorAll('.headline')].every((e) => {
    const s = getComputedStyle(e);
    return s.breakInside === 'avoid' || s.pageBreakInside === 'avoid';
  }));
  assert(unbreakable, 'fact sheet: a headline figure may be cut across a page break');
  ok(`print: fact sheet with ${figures} figure(s) prints on ${pages} A4 page(s), figures kept whole`);
  await page.emulateMedia({ media: 'screen' });

  // The explorer, by keyboard only: choose a breakdown and show counts, without a mouse or JavaScript.
  await goto(page, `/reports/explore?release=${id}`);
  await audit(page, rec, 'release explorer /reports/explore');
  await page.locator('#by').focus();
  await page.keyboard.press('ArrowDown');
  await page.locator('#show-count').focus();
  await page.keyboard.press('Space');
  await page.locator('form.explore button[type=submit]').focus();
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  assert(new URL(page.url()).searchParams.get('show') === 'count', 'explorer: the keyboard did not submit the choice');
  await audit(page, rec, 'release explorer, a breakdown as counts');
  ok('explorer: keyboard only, a breakdown shown as counts');

  await goto(page, '/reports/verify');
  await audit(page, rec, 'verification page /reports/verify');
  await goto(page, '/reports/signing-key');
  await audit(page, rec, 'signing keys /reports/signing-key');
  await page.close();
}

// ---------------------------------------------------------------------------------------------------
let browser;
let failed = 0;
const started = Date.now();
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-component-update', '--disable-sync', '--disable-quic',
      // Defence in depth: resolve no host name at all (loopback is addressed by IP).
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'],
  });
  const axeVersion = JSON.parse(readFileSync(fileURLToPath(new URL('./node_modules/axe-core/package.json', import.meta.url)), 'utf8')).version;
  ok(`Chromium ${browser.version()} launched; axe-core ${axeVersion}`);

  // Side by side, to stay well inside the time limit: the two respondent passes (each waits out the
  // minimum fill time), and the data setup, staff pages and report.
  const reports = async () => {
    await seedResponses();
    const snap = await staff(browser);
    await Promise.all([
      audit(snap.page, snap.rec, `staff snapshot /staff/reports/${snap.id}`).then(() => snap.page.close()),
      publicReport(browser, snap.id),
    ]);
  };
  await Promise.all([respondent(browser, true), respondent(browser, false), reports()]);

  const leaked = contexts.flatMap((r) => r.outside.map((u) => `${r.label}: ${u}`));
  assert(leaked.length === 0, `network: requests left 127.0.0.1:\n  ${leaked.join('\n  ')}`);
  ok('network: no request went to a host other than 127.0.0.1');
} catch (e) {
  failed += 1;
  if (e instanceof CheckFailed) console.error(`FAIL - ${e.message}`);
  else console.error(`FAIL - unexpected error: ${e && e.stack ? e.stack : e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
}
failed += violations.length + failures.length;
const secs = ((Date.now() - started) / 1000).toFixed(1);
if (notes.length) console.log(`${notes.length} note(s); see the "note -" lines above`);
if (violations.length) {
  console.log(`${violations.length} serious/critical accessibility violation(s):`);
  for (const v of violations) console.log(`  ${v}`);
}
if (failures.length) {
  console.log(`${failures.length} other failure(s):`);
  for (const f of failures) console.log(`  ${f}`);
}
console.log(`a11y: ${passed} passed, ${failed} failed (${secs} s)`);
process.exit(failed ? 1 : 0);
