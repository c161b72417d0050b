#!/usr/bin/env node
// axe-core's WCAG rules on pages loaded in headless Chromium, driven by
// puppeteer-core (t/test_help_a11y.py runs it; both packages pinned by
// package-lock.json, installed with npm ci).
//
//   node a11y.js '<job>'       or       node a11y.js < job.json
//
// The job is a JSON object:
//   {"chromium": "/usr/bin/chromium",
//    "axe": ".../node_modules/axe-core/axe.min.js",
//    "pages": [{"url": "http://...", "width": 390, "height": 900, "mobile": true, "scale": 2}, ...],
//    "tags": ["wcag2a", ...],          (optional; WCAG 2.1 A and AA by default)
//    "page_timeout": 30, "timeout": 240}  (seconds, optional)
//
// For each page, in order, one line of JSON on stdout:
//   {"url", "width", "lang": <html lang>, "recheck": the DOM has class="recheck",
//    "violations": [{id, impact, help, nodes: [target, ...]}],
//    "messages": [console messages, page errors, failed loads], "error": null or why}
// and at the end {"done": true, "pages": n}. A page that fails (timeout, crash)
// has its "error"; the next page still runs. Past the overall timeout, on
// SIGTERM, SIGINT or SIGHUP, when the browser fails to start or goes away, a last
// line {"error": ...} and exit status 2. One browser serves every page (a tab per
// viewport, reused); it is always closed, or its process group killed (if node
// itself is killed, chromium ends when the DevTools pipe closes).

'use strict';

const fs = require('node:fs');
const puppeteer = require('puppeteer-core');

const WCAG21 = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function readJob() {
  const text = process.argv[2] !== undefined ? process.argv[2] : fs.readFileSync(0, 'utf8');
  const job = JSON.parse(text);
  if (typeof job.chromium !== 'string' || typeof job.axe !== 'string' || !Array.isArray(job.pages)) {
    throw new Error('the job needs "chromium", "axe" and "pages"');
  }
  return job;
}

// The promise, or a rejection after ms milliseconds (the timer cleared either way).
function bounded(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result in ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// One tab per viewport, kept for every page of that viewport: a tab costs a new
// renderer, and puppeteer-core reloads a tab whose isMobile changes.
const tabs = new Map();

async function tab(browser, spec, ms) {
  const viewport = {width: spec.width, height: spec.height || 900,
                    deviceScaleFactor: spec.scale || 1, isMobile: !!spec.mobile};
  const key = JSON.stringify(viewport);
  if (!tabs.has(key)) {
    const page = await browser.newPage();
    const t = {page, messages: []};
    page.setDefaultTimeout(ms);
    page.setDefaultNavigationTimeout(ms);
    // Console messages, the browser's own log (CSP violations, failed loads), uncaught errors.
    page.on('console', m => t.messages.push(`console ${m.type()}: ${m.text()}`));
    page.on('pageerror', e => t.messages.push(`pageerror: ${e && e.message ? e.message : e}`));
    page.on('requestfailed', r => t.messages.push(
      `requestfailed: ${r.url()} ${r.failure() ? r.failure().errorText : ''}`));
    page.on('response', r => {
      if (r.status() >= 400) t.messages.push(`response ${r.status()}: ${r.url()}`);
    });
    await page.setViewport(viewport);
    tabs.set(key, t);
  }
  return [key, tabs.get(key)];
}

async function check(browser, axeSource, spec, tags, ms) {
  const result = {url: spec.url, width: spec.width, lang: null, recheck: false,
                  violations: [], messages: [], error: null};
  let key = null;
  try {
    await bounded((async () => {
      const [k, t] = await tab(browser, spec, ms);
      key = k;
      t.messages = result.messages;
      const page = t.page;
      const response = await page.goto(spec.url, {waitUntil: 'load', timeout: ms});
      if (!response || !response.ok()) {
        throw new Error(`${spec.url}: HTTP ${response ? response.status() : 'no response'}`);
      }
      const seen = await page.evaluate(() => ({
        lang: document.documentElement.getAttribute('lang'),
        recheck: document.querySelector('.recheck') !== null,
      }));
      result.lang = seen.lang;
      result.recheck = seen.recheck;
      // Evaluated over the DevTools protocol, which the page's CSP does not govern
      // (a <script> tag would be refused by script-src 'self').
      await page.evaluate(axeSource);
      result.violations = await page.evaluate(async values => {
        /* global axe */
        const r = await axe.run(document, {runOnly: {type: 'tag', values}, resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' '))}));
      }, tags);
    })(), ms, spec.url);
  } catch (e) {
    result.error = String(e && e.message ? e.message : e);
    // A tab left in an unknown state (a load or a script still running) is not reused.
    const t = key && tabs.get(key);
    if (t) {
      tabs.delete(key);
      await bounded(t.page.close(), 5000, 'closing the tab').catch(() => {});
    }
  }
  // Later messages (a late event of this page) go nowhere.
  for (const t of tabs.values()) if (t.messages === result.messages) t.messages = [];
  return result;
}

async function main() {
  let job;
  try {
    job = readJob();
  } catch (e) {
    emit({error: `bad job: ${e.message}`});
    return 2;
  }
  const axeSource = fs.readFileSync(job.axe, 'utf8');
  const tags = job.tags || WCAG21;
  const pageMs = (job.page_timeout || 30) * 1000;
  const totalMs = (job.timeout || 240) * 1000;

  let browser = null;
  let lost = false;
  // The browser's process group (puppeteer-core starts chromium detached), killed.
  const kill = () => {
    const proc = browser && browser.process();
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      try { process.kill(-proc.pid, 'SIGKILL'); } catch (e) { try { proc.kill('SIGKILL'); } catch (e2) { /* gone */ } }
    }
  };
  // Ends everything at once: a last line says why, the exit status is 2.
  const abort = why => {
    emit({error: why});
    kill();
    process.exit(2);
  };
  const overall = setTimeout(() => abort(`no end in ${totalMs / 1000} s: the browser is killed`), totalMs);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(signal, () => abort(`${signal}: the browser is killed`));
  }

  try {
    const args = ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-component-update',
                  '--disable-extensions'];
    // Chromium's sandbox refuses to run as root.
    if (typeof process.getuid === 'function' && process.getuid() === 0) args.push('--no-sandbox');
    browser = await puppeteer.launch({
      executablePath: job.chromium,
      headless: true,                // --headless=new: the only headless mode of chromium >= 132
      pipe: true,                    // the DevTools protocol on fds 3 and 4, no port
      args,
      timeout: pageMs,               // to start
      protocolTimeout: pageMs,       // for each DevTools command
      dumpio: false,
      handleSIGTERM: false,          // abort() above
      handleSIGINT: false,
      handleSIGHUP: false,
    });
    browser.on('disconnected', () => { lost = true; });
    let n = 0;
    for (const spec of job.pages) {
      if (lost) break;
      emit(await check(browser, axeSource, spec, tags, pageMs));
      n++;
    }
    if (lost) {
      const proc = browser.process();
      emit({error: `chromium went away (exit ${proc ? proc.exitCode : '?'}, signal ${proc ? proc.signalCode : '?'})`});
      return 2;
    }
    emit({done: true, pages: n});
    return 0;
  } catch (e) {
    emit({error: `chromium: ${e && e.message ? e.message : e}`});
    return 2;
  } finally {
    if (browser && !lost) {
      await bounded(browser.close(), 10000, 'closing chromium').catch(kill);
    }
    kill();
    clearTimeout(overall);
  }
}

main().then(code => {
  process.exitCode = code;
}, e => {
  emit({error: String(e && e.stack ? e.stack : e)});
  process.exitCode = 2;
});
