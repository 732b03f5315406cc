// Headless-Chromium checks of Chorus's respondent pages. Run through scripts/browser-test, which
// starts a fresh server and sets CHORUS_URL (http://127.0.0.1:PORT) and SCREENSHOT_DIR.
// Only loopback is ever reached: every request to another host is aborted or answered locally.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { optionInput, optionLabel } from './options.mjs';

const BASE = (process.env.CHORUS_URL || '').replace(/\/$/, '');
// The bundled survey's public address: eight hex digits derived from its slug (config `survey_paths`
// unset). The slug itself is no address (/s/harms is a 404), so nothing here names it.
const SHOTS = process.env.SCREENSHOT_DIR || 'target/screenshots';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const EXIT_URL = 'https://weather.gc.ca/'; // chorus's default exit_url (scripts/browser-test unsets CHORUS_EXIT_URL)
const FILL_MS = 3500; // a minimum fill time may be enforced by the server
const RECEIPT = /^[0-9A-Z]{4}(-[0-9A-Z]{1,4})+$/;
const TOTAL_MS = 170_000;

if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(BASE)) {
  console.error(`FATAL: CHORUS_URL must be http://127.0.0.1:PORT, got ${JSON.stringify(BASE)}`);
  process.exit(2);
}
mkdirSync(SHOTS, { recursive: true });

const watchdog = setTimeout(() => {
  console.error(`FATAL: the browser checks did not finish within ${TOTAL_MS / 1000} s`);
  process.exit(3);
}, TOTAL_MS);
watchdog.unref();

let passed = 0;
const notes = [];
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

// Every context records all requests and the responses' cookies, and nothing leaves the machine:
// - Playwright never runs route handlers for the target of a redirect (microsoft/playwright#2617), so
//   the quick exit's `/exit` (a 303 to the exit site) is fetched from Node without following the
//   redirect, its Location recorded, and the browser gets a tiny local page instead;
// - any other request to a host that is not 127.0.0.1 is aborted (or, with `outside: 'fulfil'`,
//   answered locally) and recorded;
// - Chromium itself resolves no host name but 127.0.0.1 (--host-resolver-rules), so even a request
//   that escaped the routes could not reach the network.
const contexts = [];
const OUTSIDE_PAGE = '<!doctype html><html lang="en"><title>outside</title><p>left the survey</p></html>';
async function newContext(browser, label, { javaScriptEnabled = true, outside = 'abort', locale = 'en-US' } = {}) {
  const context = await browser.newContext({ javaScriptEnabled, locale, viewport: { width: 1024, height: 800 } });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  const rec = { label, context, outside: [], exits: [], cookies: [], pending: [] };
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (isLocal(url)) {
      if (new URL(url).pathname !== '/exit') return route.continue();
      const res = await route.fetch({ maxRedirects: 0, timeout: 10_000 });
      rec.exits.push({ status: res.status(), location: res.headers()['location'] || '' });
      return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: OUTSIDE_PAGE });
    }
    rec.outside.push(url);
    if (outside === 'fulfil') {
      return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: OUTSIDE_PAGE });
    }
    return route.abort('blockedbyclient');
  });
  context.on('request', (req) => {
    if (!isLocal(req.url()) && !rec.outside.includes(req.url())) rec.outside.push(req.url());
  });
  context.on('response', (res) => {
    if (res.headers()['set-cookie']) rec.cookies.push(`${res.url()}: ${res.headers()['set-cookie']}`);
    rec.pending.push(
      res.allHeaders().then(
        (h) => {
          if (h['set-cookie']) rec.cookies.push(`${res.url()}: ${h['set-cookie']}`);
        },
        () => {},
      ),
    );
  });
  contexts.push(rec);
  return rec;
}

async function fillWait(since) {
  const left = FILL_MS - (Date.now() - since);
  if (left > 0) await new Promise((r) => setTimeout(r, left));
}

// After a submission: the receipt code, or a clear failure naming what the page said instead.
async function expectReceipt(page, where) {
  const code = page.locator('main .code-shown');
  try {
    await code.waitFor({ state: 'visible', timeout: 15_000 });
  } catch {
    const said = await page
      .locator('main')
      .innerText()
      .catch(() => '(no main)');
    throw new CheckFailed(`${where}: no receipt page; the page says: ${said.slice(0, 400).replace(/\s+/g, ' ')}`);
  }
  const text = (await page.locator('main .code-shown .groups').innerText()).replace(/\s+/g, '');
  // 26 symbols and a check symbol in groups of four: 27 + 6 dashes.
  assert(text.length === 33 && RECEIPT.test(text), `${where}: receipt ${JSON.stringify(text)} is not a 33-character code`);
  return text;
}

async function htmlLang(page) {
  return page.evaluate(() => document.documentElement.getAttribute('lang'));
}

const clickLabel = (page, inputId) => page.locator(optionLabel(inputId)).click();

// Version 2 of the default survey asks its screening question ("Are you 18 or older?") alone first,
// on a page of its own: tick Yes and press Continue to reach the form (the answer rides along in a
// hidden field). Does nothing on a page that is already the form.
async function passScreening(page) {
  if (!(await page.locator('input[name="step"][value="screen"]').count())) return;
  await page.locator(optionLabel('in-adult-yes')).click();
  await Promise.all([page.waitForEvent('load'), page.locator('form button.submit').click()]);
}

async function checked(page, inputId) {
  return page.locator(optionInput(inputId)).isChecked();
}

async function activeInfo(page) {
  return page.evaluate(() => {
    const a = document.activeElement;
    if (!a) return {};
    const cs = getComputedStyle(a);
    return {
      tag: a.tagName.toLowerCase(),
      id: a.id,
      question: (a.closest('.question') || {}).id,
      value: a.value,
      type: a.getAttribute('type'),
      cls: a.className,
      checked: !!a.checked,
      outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0,
    };
  });
}

// ---------------------------------------------------------------------------------------------------
async function noJavaScript(browser) {
  const rec = await newContext(browser, 'no-JS', { javaScriptEnabled: false });
  const page = await rec.context.newPage();
  await page.goto(`${BASE}/s/15977e8c?lang=ko`);
  assert((await htmlLang(page)) === 'ko', `no-JS: <html lang> is ${await htmlLang(page)}, not ko`);
  assert(await page.locator('input[name="step"][value="screen"]').count(), 'no-JS: the survey does not open on its screening step');
  assert(!(await page.locator('input[name="token"]').count()), 'no-JS: the screening step carries a form token');
  ok('no-JS: /s/15977e8c?lang=ko opens on the screening step, in Korean, with no token');
  await passScreening(page);
  const loaded = Date.now();
  assert((await htmlLang(page)) === 'ko', `no-JS: the form after the screening step is in ${await htmlLang(page)}, not ko`);
  assert(await page.locator('input[type="hidden"][value="yes"]').count(), 'no-JS: the form does not carry the screening answer');
  ok('no-JS: Yes and Continue lead to the form, in Korean, carrying the answer');

  const groups = page.locator('.conditional');
  const n = await groups.count();
  assert(n > 0, 'no-JS: the form has no .conditional group');
  for (let i = 0; i < n; i++) {
    const g = groups.nth(i);
    assert(await g.isVisible(), `no-JS: conditional group ${i + 1} is hidden`);
    const cond = g.locator('.condition');
    assert(await cond.isVisible(), `no-JS: conditional group ${i + 1} has no visible .condition sentence`);
    const t = (await cond.innerText()).trim();
    // Either "if you answered X to question N" or "if you chose other than X in question N", in Korean.
    assert(/\d+/.test(t) && /“.+”/.test(t) && t.endsWith(':'), `no-JS: condition sentence of group ${i + 1} is ${JSON.stringify(t)}`);
  }
  ok(`no-JS: all ${n} conditional groups are visible with their "If you answered" sentence`);

  for (const id of ['in-age-25_34', 'in-gender-woman', 'in-gender-trans_woman', 'in-region-bc', 'in-officials-bylaw', 'in-what_happened-id_check']) {
    await clickLabel(page, id);
    assert(await checked(page, id), `no-JS: clicking the label of #${id} did not select it`);
  }
  ok('no-JS: clicking labels selects radio buttons and checkboxes (age, gender, region, officials, what_happened)');

  await fillWait(loaded);
  await page.locator('button.submit').click();
  const receipt = await expectReceipt(page, 'no-JS submission');
  assert((await htmlLang(page)) === 'ko', 'no-JS: the receipt page is not in Korean');
  assert(new URL(page.url()).search === '', `no-JS: the receipt page URL carries a query: ${page.url()}`);
  ok(`no-JS: submission shows a receipt (${receipt.slice(0, 4)}-…, ${receipt.length} characters) in Korean`);
  await page.screenshot({ path: path.join(SHOTS, 'receipt-ko.png'), fullPage: true });
  ok('screenshot: receipt-ko.png');

  await page.goto(`${BASE}/withdraw?lang=ko`);
  assert((await htmlLang(page)) === 'ko', 'no-JS: /withdraw?lang=ko is not in Korean');
  await page.locator('#receipt').fill(receipt);
  await page.locator('main form button[type=submit]').click();
  const status = page.locator('[role=status]');
  await status.waitFor({ state: 'visible', timeout: 15_000 }).catch(() => {
    throw new CheckFailed('no-JS: the withdrawal confirmation ([role=status]) did not appear');
  });
  assert((await status.innerText()).includes('삭제'), 'no-JS: the withdrawal confirmation is not the Korean one');
  ok('no-JS: withdrawing with the receipt shows the confirmation ([role=status])');

  // Without JS the quick-exit link goes through /leave (which makes Chromium forget this site's cached
  // pages) to /exit; it cannot replace the history entry.
  await page.close();
  return rec;
}

async function javaScriptOn(browser) {
  const rec = await newContext(browser, 'JS');
  const page = await rec.context.newPage();
  await page.goto(`${BASE}/s/15977e8c?lang=en`);
  await passScreening(page);
  const loaded = Date.now();
  assert((await htmlLang(page)) === 'en', 'JS: /s/15977e8c?lang=en is not in English');
  const dependent = page.locator('.conditional[data-show-if="officials"]');
  const nDep = await dependent.count();
  assert(nDep > 0, 'JS: no conditional group depends on "officials"');
  const allConditional = page.locator('.conditional');
  for (let i = 0; i < (await allConditional.count()); i++) {
    assert(await allConditional.nth(i).isHidden(), `JS: conditional group ${i + 1} is visible before any answer`);
  }
  ok(`JS: all conditional groups start hidden (${nDep} depend on "officials")`);
  assert(await page.locator(optionInput('in-what_happened-id_check')).isDisabled(), 'JS: inputs in a hidden group are not disabled');

  await clickLabel(page, 'in-officials-none');
  assert(await dependent.first().isHidden(), 'JS: choosing "None of these" showed the dependent group');
  ok('JS: officials = "none" keeps the dependent groups hidden');
  await clickLabel(page, 'in-officials-none'); // untick it again
  await clickLabel(page, 'in-officials-bylaw');
  for (let i = 0; i < nDep; i++) {
    assert(await dependent.nth(i).isVisible(), `JS: dependent group ${i + 1} stayed hidden after choosing "bylaw"`);
  }
  assert(await page.locator('.conditional[data-show-if="provider_harm"]').first().isHidden(), 'JS: an unrelated group became visible');
  ok('JS: officials = "bylaw" reveals the dependent groups (others stay hidden)');

  await clickLabel(page, 'in-what_happened-id_check');
  assert(await checked(page, 'in-what_happened-id_check'), 'JS: could not answer a revealed question');
  await clickLabel(page, 'in-age-35_44');
  await fillWait(loaded);
  await page.locator('button.submit').click();
  await expectReceipt(page, 'JS submission');
  ok('JS: submission with a revealed question shows a receipt');

  // Screenshots of the form (JS on, so conditional groups are hidden as a respondent sees them).
  for (const lang of ['en', 'zh-Hans', 'th']) {
    await page.goto(`${BASE}/s/15977e8c?lang=${lang}`);
    await passScreening(page);
    assert((await htmlLang(page)) === lang, `JS: /s/15977e8c?lang=${lang} has <html lang="${await htmlLang(page)}">`);
    await page.evaluate(() => document.fonts.ready);
    await page.screenshot({ path: path.join(SHOTS, `form-${lang}.png`), fullPage: true });
    ok(`screenshot: form-${lang}.png`);
  }

  await page.close();
  return rec;
}

async function keyboardOnly(browser) {
  const rec = await newContext(browser, 'keyboard');
  const page = await rec.context.newPage();
  await page.goto(`${BASE}/s/15977e8c`);
  await passScreening(page);
  const loaded = Date.now();
  await page.keyboard.press('Tab');
  let a = await activeInfo(page);
  assert(a.id === 'quick-exit', `keyboard: the first Tab focuses ${a.tag}#${a.id}.${a.cls}, not #quick-exit`);
  assert(a.outline, 'keyboard: the focused quick-exit link shows no focus outline');
  ok('keyboard: the first Tab focuses the quick-exit link (#quick-exit), with a visible focus outline');
  await page.keyboard.press('Tab');
  a = await activeInfo(page);
  assert(a.cls === 'skip', `keyboard: the second Tab focuses ${a.tag}#${a.id}.${a.cls}, not the skip link`);
  assert(await page.locator('a.skip').isVisible(), 'keyboard: the focused skip link is not visible');
  ok('keyboard: the second Tab focuses a visible "skip to content" link');

  let tabs = 2;
  while (!(a.tag === 'input' && a.type === 'radio') && tabs < 40) {
    await page.keyboard.press('Tab');
    tabs += 1;
    a = await activeInfo(page);
  }
  assert(a.tag === 'input' && a.type === 'radio', 'keyboard: no radio button reached within 40 Tabs');
  const radioId = `${a.question}=${a.value}`;
  await page.keyboard.press('Space');
  assert((await activeInfo(page)).checked, `keyboard: Space did not select ${radioId}`);
  assert((await activeInfo(page)).outline, `keyboard: the focused radio ${radioId} shows no focus outline`);
  ok(`keyboard: Tab reached radio ${radioId} after ${tabs} presses and Space selected it`);

  while (!(a.tag === 'button' && String(a.cls).includes('submit')) && tabs < 400) {
    await page.keyboard.press('Tab');
    tabs += 1;
    a = await activeInfo(page);
  }
  assert(a.tag === 'button' && String(a.cls).includes('submit'), 'keyboard: the submit button was not reached within 400 Tabs');
  ok(`keyboard: the submit button is reached by Tab (${tabs} presses from the top)`);
  await fillWait(loaded);
  await page.keyboard.press('Enter');
  await expectReceipt(page, 'keyboard submission');
  ok('keyboard: Enter on the submit button shows a receipt');
  await page.close();
  return rec;
}

// Waits until the page shows the local stand-in for the exit site, and checks that the server's
// /exit answered 303 to the configured exit URL.
async function expectLeft(page, rec, where) {
  const until = Date.now() + 10_000;
  let left = false;
  while (!left && Date.now() < until) {
    const title = await page.title().catch(() => '');
    left = new URL(page.url()).pathname === '/exit' && title === 'outside';
    if (!left) await new Promise((r) => setTimeout(r, 100));
  }
  assert(left, `${where}: the page did not leave the survey (still at ${page.url()})`);
  const last = rec.exits[rec.exits.length - 1];
  assert(last && last.status === 303 && last.location === EXIT_URL, `${where}: /exit answered ${JSON.stringify(last)}, not 303 to ${EXIT_URL}`);
}

async function quickExit(browser) {
  // JS on: the link and three Shifts leave with location.replace, so the survey leaves no history entry.
  const rec = await newContext(browser, 'quick-exit', { outside: 'fulfil' });
  const page = await rec.context.newPage();
  await page.goto(`${BASE}/?lang=en`);
  await page.goto(`${BASE}/s/15977e8c?lang=en`);
  const before = await page.evaluate(() => history.length);
  await page.locator('#quick-exit').click();
  await expectLeft(page, rec, 'quick exit (JS, click)');
  ok(`quick exit (JS): clicking #quick-exit leaves the survey; /exit answers 303 to ${EXIT_URL}`);
  const after = await page.evaluate(() => history.length);
  assert(after === before, `quick exit (JS): history.length grew from ${before} to ${after}`);
  await page.goBack({ timeout: 5_000 }).catch(() => null);
  assert(!page.url().includes('/s/15977e8c'), `quick exit (JS): Back returns to the survey (${page.url()})`);
  ok(`quick exit (JS): history.length stays ${before} and Back does not return to the form`);
  await page.close();

  const page2 = await rec.context.newPage();
  await page2.goto(`${BASE}/s/15977e8c?lang=en`);
  const before2 = await page2.evaluate(() => history.length);
  await page2.keyboard.press('Shift');
  await page2.keyboard.press('Shift');
  await page2.waitForTimeout(300);
  assert(page2.url().startsWith(`${BASE}/s/15977e8c`), 'quick exit: two Shift presses already left the page');
  await page2.keyboard.press('Shift');
  await expectLeft(page2, rec, 'quick exit (three Shifts)');
  const after2 = await page2.evaluate(() => history.length);
  assert(after2 === before2, `quick exit (Shift): history.length grew from ${before2} to ${after2}`);
  ok('quick exit (JS): two Shift presses stay, the third leaves, history.length unchanged');
  await page2.close();

  // Typing capitals (Shift+letter) into a text box (the outreach code's: the default survey has no
  // free-text question since version 2) must never trigger the quick exit.
  const page3 = await rec.context.newPage();
  await page3.goto(`${BASE}/s/15977e8c?lang=en`);
  await passScreening(page3);
  await page3.locator('#code').focus();
  for (const ch of 'I met BC Pol') {
    if (ch >= 'A' && ch <= 'Z') {
      await page3.keyboard.down('Shift');
      await page3.keyboard.press(`Key${ch}`);
      await page3.keyboard.up('Shift');
    } else {
      await page3.keyboard.type(ch);
    }
  }
  await page3.waitForTimeout(500);
  assert(page3.url().startsWith(`${BASE}/s/15977e8c`), 'typing "I met BC Pol" (Shift+letter capitals) triggered the quick exit');
  ok('quick exit: typing capitals in a text box does not trigger it');
  await page3.close();

  // JS off: a plain link through /exit (303); it leaves, but the survey page stays in the history.
  const recNoJs = await newContext(browser, 'quick-exit no-JS', { javaScriptEnabled: false, outside: 'fulfil' });
  const page4 = await recNoJs.context.newPage();
  await page4.goto(`${BASE}/s/15977e8c?lang=en`);
  await page4.locator('#quick-exit').click();
  await expectLeft(page4, recNoJs, 'quick exit (no JS)');
  ok('quick exit (no JS): the link leaves through /exit (303 to the exit site)');
  await page4.close();
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
  ok(`Chromium ${browser.version()} launched from ${CHROMIUM}`);

  const local = [];
  local.push(await noJavaScript(browser));
  local.push(await javaScriptOn(browser));
  local.push(await keyboardOnly(browser));
  await quickExit(browser);

  for (const rec of contexts) await Promise.all(rec.pending);
  const leaked = local.flatMap((r) => r.outside.map((u) => `${r.label}: ${u}`));
  assert(leaked.length === 0, `network: requests left 127.0.0.1 during the form checks:\n  ${leaked.join('\n  ')}`);
  ok('network: no request went to a host other than 127.0.0.1 during the no-JS, JS and keyboard checks');
  const leakedExit = contexts.flatMap((r) => r.outside.map((u) => `${r.label}: ${u}`));
  assert(leakedExit.length === 0, `network: requests left 127.0.0.1 during the quick-exit checks:\n  ${leakedExit.join('\n  ')}`);
  ok('network: the quick-exit checks did not reach the exit site either (its /exit redirect was answered locally)');
  const cookies = contexts.flatMap((r) => r.cookies);
  assert(cookies.length === 0, `cookies: responses set cookies:\n  ${cookies.join('\n  ')}`);
  for (const rec of contexts) {
    const jar = await rec.context.cookies();
    assert(jar.length === 0, `cookies: the ${rec.label} context holds cookies: ${jar.map((c) => c.name).join(', ')}`);
  }
  ok('cookies: no response set a cookie and every cookie jar is empty');
} catch (e) {
  failed = 1;
  if (e instanceof CheckFailed) console.error(`FAIL - ${e.message}`);
  else console.error(`FAIL - unexpected error: ${e && e.stack ? e.stack : e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
}
const secs = ((Date.now() - started) / 1000).toFixed(1);
if (notes.length) console.log(`${notes.length} note(s) about the pages; see the "note -" lines above`);
console.log(`browser: ${passed} passed, ${failed} failed (${secs} s)`);
process.exit(failed ? 1 : 0);
