// "A form that forgets and fits a phone" (issue 17), in headless Chromium at 360×740, JavaScript on
// and off. Run through scripts/browser-test, which starts a fresh server and sets CHORUS_URL and
// SCREENSHOT_DIR (screenshots go to SCREENSHOT_DIR/forget/).
//
// Threat 4 is someone who picks up her phone afterwards. For each way of leaving the form (sending it,
// sending it and being refused, quick exit) this presses Back, reloads, and asserts that no answer is
// checked or typed anywhere the page shows. It also measures tap targets, checks that the error summary
// is in view (below the fixed exit bar) after a refused send, and that every error is listed at once.
//
// Every check runs even when an earlier one failed, so one run shows everything that is wrong.
// `ONLY=back` (a comma list of check-name substrings) runs a subset.
import { chromium } from 'playwright-core';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { optionInput, optionLabel } from './options.mjs';

const BASE = (process.env.CHORUS_URL || '').replace(/\/$/, '');
// The bundled survey's public address: eight hex digits derived from its slug (config `survey_paths`
// unset). The slug itself is no address (/s/harms is a 404), so nothing here names it.
const SHOTS = path.join(process.env.SCREENSHOT_DIR || 'target/screenshots', 'forget');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FILL_MS = 3500; // scripts/browser-test sets CHORUS_MIN_FILL_SECONDS=3
const TOTAL_MS = 200_000;
const PHONE = { width: 360, height: 740 };
const MIN_TAP = 44;
// Version 1 typed this into its free-text box; version 2 has none, so it is only looked for (never typed).
const SECRET_TEXT = 'Officer took my phone at the spa on Main';
const ONLY = (process.env.ONLY || '').split(',').filter(Boolean);

if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(BASE)) {
  console.error(`FATAL: CHORUS_URL must be http://127.0.0.1:PORT, got ${JSON.stringify(BASE)}`);
  process.exit(2);
}
rmSync(SHOTS, { recursive: true, force: true });
mkdirSync(SHOTS, { recursive: true });
const watchdog = setTimeout(() => {
  console.error(`FATAL: the forget checks did not finish within ${TOTAL_MS / 1000} s`);
  process.exit(3);
}, TOTAL_MS);
watchdog.unref();

let passed = 0;
const failures = [];
class CheckFailed extends Error {}
function assert(cond, what) {
  if (!cond) throw new CheckFailed(what);
}
function ok(what) {
  passed += 1;
  console.log(`ok ${passed} - ${what}`);
}

const isLocal = (url) => {
  try {
    const u = new URL(url);
    return u.protocol === 'data:' || u.protocol === 'about:' || u.hostname === '127.0.0.1';
  } catch {
    return false;
  }
};

const OUTSIDE_PAGE = '<!doctype html><html lang="en"><title>outside</title><p>left the survey</p></html>';
async function newContext(browser, javaScriptEnabled) {
  const context = await browser.newContext({ javaScriptEnabled, locale: 'en-US', viewport: PHONE, deviceScaleFactor: 1, hasTouch: true, isMobile: true });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  // /exit is a 303 to another site: answer it locally (Playwright does not route redirect targets),
  // and never let a request leave 127.0.0.1.
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (isLocal(url) && new URL(url).pathname !== '/exit') return route.continue();
    return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: OUTSIDE_PAGE });
  });
  return context;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function fillWait(since) {
  const left = FILL_MS - (Date.now() - since);
  if (left > 0) await sleep(left);
}

let shotNo = 0;
async function shot(page, name) {
  shotNo += 1;
  const file = `${String(shotNo).padStart(2, '0')}-${name}.png`;
  await page.screenshot({ path: path.join(SHOTS, file), fullPage: false }).catch(() => {});
  return file;
}

// Everything a person looking at the screen could find: checked boxes and radios, typed text, and
// the secret text anywhere in the page (also inside <details> or hidden groups), in every frame.
async function visibleAnswers(page) {
  const found = [];
  for (const frame of page.frames()) {
    const got = await frame
      .evaluate((secret) => {
        const out = [];
        for (const i of document.querySelectorAll('input[type=radio], input[type=checkbox]')) {
          if (i.checked) out.push(`checked ${i.id || i.name}=${i.value}`);
        }
        for (const t of document.querySelectorAll('textarea, input[type=text], input:not([type])')) {
          if (t.value) out.push(`typed in ${t.id || t.name}: ${JSON.stringify(t.value.slice(0, 40))}`);
        }
        if (document.documentElement.innerHTML.includes(secret)) out.push('the typed text appears in the page');
        return out;
      }, SECRET_TEXT)
      .catch(() => []);
    found.push(...got);
  }
  return found;
}

async function expectNoAnswers(page, where) {
  const found = await visibleAnswers(page);
  const file = await shot(page, where.replace(/[^a-z0-9]+/gi, '-').toLowerCase());
  assert(found.length === 0, `${where}: her answers are visible again (${found.join('; ')}) — see ${file} (url ${page.url()})`);
}

const ANSWERS = ['in-age-25_34', 'in-gender-woman', 'in-officials-bylaw', 'in-what_happened-id_check', 'in-changes_after-moved'];

// Version 2 of the default survey asks its screening question ("Are you 18 or older?") alone first,
// on a page of its own: tick Yes and press Continue to reach the form (the answer rides along in a
// hidden field). Does nothing on a page that is already the form. With `tick` false she skips it.
async function passScreening(page, tick = true) {
  if (!(await page.locator('input[name="step"][value="screen"]').count())) return;
  if (tick) await page.locator(optionLabel('in-adult-yes')).click();
  await Promise.all([page.waitForEvent('load'), page.locator('form button.submit').click()]);
}

async function openForm(page, tick = true) {
  await page.goto(`${BASE}/s/15977e8c?lang=en`);
  await passScreening(page, tick);
  assert(await page.locator('form button.submit').count(), `the form did not render at ${page.url()}`);
  return Date.now();
}

async function fill(page) {
  for (const id of ANSWERS) {
    await page.locator(optionLabel(id)).click();
    assert(await page.locator(optionInput(id)).isChecked(), `could not tick #${id}`);
  }
}

async function send(page, since) {
  await fillWait(since);
  await Promise.all([page.waitForEvent('load'), page.locator('form button.submit').click()]);
}

async function back(page) {
  await page.goBack({ timeout: 8_000 }).catch(() => null);
  await page.waitForLoadState('load').catch(() => {});
  await sleep(300);
}

async function reload(page) {
  // A reload of a POST result may ask to re-send: Chromium headless re-sends without asking.
  await page.reload({ timeout: 8_000 }).catch(() => null);
  await page.waitForLoadState('load').catch(() => {});
  await sleep(300);
}

async function leaveQuickly(page) {
  await page.locator('#quick-exit').click();
  const until = Date.now() + 8_000;
  while (Date.now() < until && (await page.title().catch(() => '')) !== 'outside') await sleep(100);
  assert((await page.title().catch(() => '')) === 'outside', `quick exit did not leave (at ${page.url()})`);
}

const receiptCode = async (page) => (await page.locator('main .code-shown .groups').innerText().catch(() => '')).replace(/\s+/g, '');

// ---------------------------------------------------------------------------------------------------
const checks = [];
const check = (name, fn) => checks.push({ name, fn });

for (const js of [true, false]) {
  const mode = js ? 'JS on' : 'JS off';
  const tag = js ? 'js' : 'nojs';

  check(`${mode}: back after sending`, async (browser) => {
    const context = await newContext(browser, js);
    const page = await context.newPage();
    await page.goto(`${BASE}/?lang=en`);
    const since = await openForm(page);
    await fill(page);
    await shot(page, `${tag}-filled`);
    await send(page, since);
    const code = await receiptCode(page);
    await shot(page, `${tag}-receipt`);
    assert(code.length >= 26, `no receipt after sending (page: ${(await page.locator('main').innerText()).slice(0, 200)})`);
    await back(page);
    await expectNoAnswers(page, `${tag} back from the receipt`);
    await reload(page);
    await expectNoAnswers(page, `${tag} back then reload`);
    await page.goForward({ timeout: 8_000 }).catch(() => null);
    await page.waitForLoadState('load').catch(() => {});
    await expectNoAnswers(page, `${tag} forward again`);
    await back(page);
    await expectNoAnswers(page, `${tag} back a second time`);
    await context.close();
  });

  check(`${mode}: back after quick exit`, async (browser) => {
    const context = await newContext(browser, js);
    const page = await context.newPage();
    await page.goto(`${BASE}/?lang=en`);
    await openForm(page);
    await fill(page);
    await leaveQuickly(page);
    await back(page);
    await expectNoAnswers(page, `${tag} quick exit then back`);
    await reload(page);
    await expectNoAnswers(page, `${tag} quick exit then back then reload`);
    await context.close();
  });

  check(`${mode}: back after a refused send, then quick exit`, async (browser) => {
    const context = await newContext(browser, js);
    const page = await context.newPage();
    await page.goto(`${BASE}/?lang=en`);
    await openForm(page);
    await fill(page);
    // Sent at once, under the minimum fill time: the refusal re-shows the form with her answers
    // (that page is the result of a POST).
    await Promise.all([page.waitForEvent('load'), page.locator('form button.submit').click()]);
    const refused = await page.locator('.error-summary, .notice').count();
    await shot(page, `${tag}-refused`);
    assert(refused > 0, `the send was not refused (page: ${(await page.locator('main').innerText()).slice(0, 200)})`);
    await leaveQuickly(page);
    await back(page);
    await expectNoAnswers(page, `${tag} refused then quick exit then back`);
    await reload(page);
    await expectNoAnswers(page, `${tag} refused then quick exit then back then reload`);
    await context.close();
  });

  check(`${mode}: the error summary is in view after a refused send`, async (browser) => {
    const context = await newContext(browser, js);
    const page = await context.newPage();
    const since = await openForm(page);
    // Two problems at once: "None of these" with another official, and "None of these" with a change.
    // With JS on, the page would untick the other options itself, so tick them directly.
    const ids = ['in-officials-none', 'in-officials-city_police', 'in-status-citizen',
      'in-changes_after-none', 'in-changes_after-moved'];
    for (const id of ids) {
      if (js) await page.evaluate((sel) => { document.querySelector(sel).checked = true; }, optionInput(id));
      else await page.locator(optionLabel(id)).click();
    }
    await send(page, since);
    await shot(page, `${tag}-error-summary`);
    const geo = await page.evaluate(() => {
      const bar = document.getElementById('quick-exit').getBoundingClientRect();
      const s = document.querySelector('.error-summary');
      if (!s) return { none: true, text: document.querySelector('main').innerText.slice(0, 200) };
      const r = s.getBoundingClientRect();
      return { barBottom: bar.bottom, top: r.top, bottom: r.bottom, vh: innerHeight, focused: document.activeElement === s, links: s.querySelectorAll('a').length };
    });
    assert(!geo.none, `no error summary after a refused send (page: ${geo.text})`);
    assert(geo.links >= 2, `the error summary lists ${geo.links} error(s), not both`);
    assert(geo.top >= geo.barBottom - 1 && geo.top < geo.vh - 60, `the error summary is not in view: its top is at ${geo.top} px (exit bar ends at ${geo.barBottom}, screen ${geo.vh} px)`);
    if (js) assert(geo.focused, 'JS on: focus is not on the error summary');
    ok(`${mode}: the error summary's top is at ${Math.round(geo.top)} px, below the exit bar (${Math.round(geo.barBottom)} px)${js ? ', focused' : ''}`);
    await page.locator('.error-summary a').first().click();
    await sleep(400);
    const q = await page.evaluate(() => {
      const bar = document.getElementById('quick-exit').getBoundingClientRect();
      const id = decodeURIComponent(location.hash.slice(1));
      const el = document.getElementById(id);
      const head = el && (el.querySelector('legend, label') || el);
      const r = head ? head.getBoundingClientRect() : { top: -1, bottom: -1 };
      return { id, barBottom: bar.bottom, top: r.top, bottom: r.bottom, vh: innerHeight, focusIn: !!el && el.contains(document.activeElement) };
    });
    await shot(page, `${tag}-first-error`);
    assert(q.top >= q.barBottom - 1 && q.bottom <= q.vh, `the first error's heading (#${q.id}) is at ${q.top}–${q.bottom} px, under the exit bar (${q.barBottom}) or off screen`);
    ok(`${mode}: the error link lands on #${q.id} with its heading visible at ${Math.round(q.top)} px${q.focusIn ? ', focus inside it' : ''}`);
    await context.close();
  });
}

check('JS on: an empty send is refused kindly', async (browser) => {
  const context = await newContext(browser, true);
  const page = await context.newPage();
  // The screening question skipped too (a "Yes" there is an answer, carried into the form).
  const since = await openForm(page, false);
  await send(page, since);
  const text = await page.locator('main').innerText();
  assert(/not answered anything/i.test(text), `an empty form was not refused with "not answered anything" (page: ${text.slice(0, 200)})`);
  await shot(page, 'empty-refused');
  await context.close();
});

check('JS on: exclusive options untick the others', async (browser) => {
  const context = await newContext(browser, true);
  const page = await context.newPage();
  await openForm(page);
  await page.locator(optionLabel('in-officials-city_police')).click();
  await page.locator(optionLabel('in-officials-none')).click();
  assert(!(await page.locator(optionInput('in-officials-city_police')).isChecked()), 'ticking "None of these" left "City police" ticked');
  await page.locator(optionLabel('in-officials-bylaw')).click();
  assert(!(await page.locator(optionInput('in-officials-none')).isChecked()), 'ticking "Bylaw" left "None of these" ticked');
  await context.close();
});

check('tap targets are at least 44×44 CSS px at 360 px', async (browser) => {
  for (const [lang, js] of [['en', true], ['ko', false], ['th', true]]) {
    const context = await newContext(browser, js);
    const page = await context.newPage();
    await page.goto(`${BASE}/s/15977e8c?lang=${lang}`);
    await passScreening(page);
    // With JS on, reveal the conditional groups so their options are measured too.
    if (js) await page.locator(optionLabel('in-officials-bylaw')).click();
    const small = await page.evaluate((min) => {
      const out = [];
      const targets = [
        ...[...document.querySelectorAll('.o input')].map((i) => [i.closest('label'), `option ${i.value}`]),
        ...[...document.querySelectorAll('main input[type=text], main textarea')].map((i) => [i, `input ${i.id}`]),
        ...[...document.querySelectorAll('.languages a, .languages button')].map((a) => [a, `language link ${a.textContent.trim()}`]),
        [document.querySelector('button.submit'), 'send button'],
        [document.getElementById('quick-exit'), 'quick exit'],
      ];
      for (const [el, name] of targets) {
        if (!el) { out.push(`${name}: no label`); continue; }
        if (el.closest('[hidden], .hp')) continue;
        const r = el.getBoundingClientRect();
        if (r.width < min - 0.5 || r.height < min - 0.5) out.push(`${name}: ${r.width.toFixed(0)}×${r.height.toFixed(0)}`);
      }
      return { out, n: targets.length, overflow: document.documentElement.scrollWidth > innerWidth + 1 };
    }, MIN_TAP);
    await shot(page, `tap-${lang}`);
    assert(small.out.length === 0, `${lang}: ${small.out.length} of ${small.n} tap targets are under ${MIN_TAP}×${MIN_TAP} px: ${small.out.slice(0, 8).join(', ')}`);
    assert(!small.overflow, `${lang}: the page scrolls sideways at 360 px`);
    ok(`${lang} (${js ? 'JS on' : 'JS off'}): all ${small.n} tap targets are at least ${MIN_TAP}×${MIN_TAP} px and nothing scrolls sideways`);
    await context.close();
  }
});

check('the receipt survives its language links and a reload, and never wraps mid-group', async (browser) => {
  const context = await newContext(browser, false);
  const page = await context.newPage();
  const since = await openForm(page);
  await page.locator(optionLabel('in-age-25_34')).click();
  await send(page, since);
  const code = await receiptCode(page);
  assert(code.length >= 26, 'no receipt');
  const groups = await page.evaluate(() => {
    const spans = [...document.querySelectorAll('main .code-shown .group')];
    return spans.map((s) => s.getClientRects().length);
  });
  assert(groups.length >= 6 && groups.every((n) => n === 1), `the receipt's groups wrap inside themselves (line boxes per group: ${groups.join(',')})`);
  await page.locator('.languages button[value="ko"]').click();
  await page.waitForLoadState('load');
  assert((await page.evaluate(() => document.documentElement.lang)) === 'ko', 'the receipt page did not switch to Korean');
  assert((await receiptCode(page)) === code, 'the receipt is gone after the language switch');
  await shot(page, 'receipt-ko-after-switch');
  await reload(page);
  assert((await receiptCode(page)) === code, 'the receipt is gone after a reload of the switched page');
  ok(`receipt ${code.slice(0, 4)}… stays through a language switch and a reload (${groups.length} groups, none wraps)`);
  await context.close();
});

// ---------------------------------------------------------------------------------------------------
let browser;
const started = Date.now();
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    // Playwright turns the back/forward cache off by default; a respondent's browser has it on, and it
    // is what brings a whole page back on Back, ticks and typed text included. CCNS_BFCACHE=1 also
    // lets pages served with Cache-Control: no-store into it (as Chrome does for some pages).
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
    args: [...(process.env.CCNS_BFCACHE ? ['--enable-features=CacheControlNoStoreEnterBackForwardCache'] : []), '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-component-update', '--disable-sync', '--disable-quic',
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'],
  });
  console.log(`# Chromium ${browser.version()}, viewport ${PHONE.width}×${PHONE.height}`);
  for (const c of checks) {
    if (ONLY.length && !ONLY.some((o) => c.name.includes(o))) continue;
    try {
      await c.fn(browser);
      ok(c.name);
    } catch (e) {
      const msg = e instanceof CheckFailed ? e.message : (e && e.stack) || String(e);
      failures.push(`${c.name}: ${msg}`);
      console.error(`FAIL - ${c.name}: ${msg}`);
    }
  }
} catch (e) {
  failures.push(`unexpected: ${(e && e.stack) || e}`);
  console.error(`FAIL - unexpected error: ${(e && e.stack) || e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
}
console.log(`forget: ${passed} passed, ${failures.length} failed (${((Date.now() - started) / 1000).toFixed(1)} s); screenshots in ${SHOTS}`);
process.exit(failures.length ? 1 : 0);
