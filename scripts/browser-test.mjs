// The browsable API in a real browser: headless Chromium opens /docs of a real `cheap serve`
// (with an API key), checks that every path of /api-docs is listed, authorizes with the key,
// runs "Try it out" on GET /api/catalog and sees a 200 listing the catalogs it created, saves a
// screenshot, and fails if the page requested any host but 127.0.0.1.
//
// Usage: node scripts/browser-test.mjs <path to cheap> <screenshot.png>
// Needs playwright-core (npm) and Chromium at /usr/bin/chromium (or $CHROMIUM).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [cheap, screenshot] = process.argv.slice(2);
if (!cheap || !screenshot) {
  console.error('usage: browser-test.mjs <cheap binary> <screenshot.png>');
  process.exit(2);
}
const key = 'browser-test-key';
const work = mkdtempSync(join(tmpdir(), 'cheap-browser-'));
const fail = (msg) => { throw new Error(msg); };

const server = spawn(cheap, ['serve', '--database-url', `sqlite://${join(work, 'docs.db')}`,
  '--bind', '127.0.0.1:0', '--api-key', key], { stdio: ['ignore', 'ignore', 'pipe'] });
const base = await new Promise((resolve, reject) => {
  let log = '';
  const timer = setTimeout(() => reject(new Error(`cheap serve did not start:\n${log}`)), 20000);
  server.stderr.on('data', (chunk) => {
    log += chunk;
    const m = log.match(/http:\/\/127\.0\.0\.1:\d+/);
    if (m) { clearTimeout(timer); resolve(m[0]); }
  });
  server.on('exit', (code) => reject(new Error(`cheap serve exited with ${code}:\n${log}`)));
});

let browser;
try {
  const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const created = [];
  for (let i = 0; i < 2; i++) {
    const r = await fetch(`${base}/api/catalog`, { method: 'POST', headers: auth, body: '{"species":"sink"}' });
    if (r.status !== 201) fail(`creating a catalog: ${r.status}`);
    created.push((await r.json()).catalogId);
  }
  const doc = await (await fetch(`${base}/api-docs`)).json();

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // playwright gives each launch a fresh temporary profile (--user-data-dir).
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  const foreign = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.protocol !== 'blob:' && u.hostname !== '127.0.0.1') foreign.push(r.url());
  });

  await page.goto(`${base}/docs`);
  await page.waitForSelector('.opblock', { timeout: 30000 });
  const listed = new Set(await page.$$eval('.opblock-summary-path',
    (els) => els.map((e) => e.getAttribute('data-path') || e.textContent.replace(/\u200b/g, '').trim())));
  const missing = Object.keys(doc.paths).filter((p) => !listed.has(p));
  if (missing.length) fail(`paths of /api-docs not listed on the page: ${missing.join(', ')}`);
  console.log(`browser: ${listed.size} paths listed, all ${Object.keys(doc.paths).length} of /api-docs`);

  // Authorize with the API key (the bearer scheme of the document).
  await page.click('button.authorize');
  await page.fill('.modal-ux input', key);
  await page.click('.modal-ux button.authorize');
  await page.click('.modal-ux button.btn-done');

  const op = page.locator('.opblock[id$="-get_catalog"]');
  await op.locator('.opblock-summary').click();
  // The server enables "Try it out" by default; press it only if the page did not.
  const tryOut = op.locator('button.try-out__btn');
  if ((await tryOut.textContent()).trim() === 'Try it out') await tryOut.click();
  await op.locator('button.execute').click();
  const status = op.locator('.live-responses-table tr.response .response-col_status').first();
  await status.waitFor({ timeout: 15000 });
  const code = (await status.textContent()).trim();
  if (code !== '200') fail(`Try it out on GET /api/catalog answered ${code}`);
  const body = await op.locator('.live-responses-table tr.response .response-col_description').first().textContent();
  for (const id of created) if (!body.includes(id)) fail(`the answer does not list catalog ${id}`);
  console.log(`browser: Try it out on GET /api/catalog: 200 with the ${created.length} catalogs created`);

  await page.screenshot({ path: screenshot, fullPage: true });
  if (foreign.length) fail(`the page requested other hosts: ${foreign.join(', ')}`);
  console.log(`browser: no request left 127.0.0.1; screenshot at ${screenshot}`);
} finally {
  if (browser) await browser.close();
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
