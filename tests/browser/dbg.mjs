import { chromium } from 'playwright-core';
const b = await chromium.launch({executablePath:'/usr/bin/chromium', args:['--no-sandbox','--disable-gpu']});
const c = await b.newContext();
await c.route('**/*', r => new URL(r.request().url()).hostname==='127.0.0.1' ? r.continue() : r.fulfill({status:200, body:'<title>out</title>out', contentType:'text/html'}));
for (const wait of [0, 300, 1000]) {
const p = await c.newPage();
await p.goto('http://127.0.0.1:38111/s/harms?lang=en');
await p.evaluate(() => { window.__k = []; document.addEventListener('keyup', e => window.__k.push(e.key + '@' + Date.now())); });
await p.keyboard.press('Shift'); await p.keyboard.press('Shift');
await p.waitForTimeout(wait);
console.log(wait, 'after 2', p.url(), await p.evaluate(() => window.__k).catch(e=>'gone'));
await p.keyboard.press('Shift');
await p.waitForTimeout(500);
console.log(wait, 'after 3', p.url(), await p.evaluate(() => window.__k).catch(e=>'gone'));
}
await b.close();
