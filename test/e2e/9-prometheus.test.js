'use strict';
// Prometheus: Debian's prometheus-postgres-exporter with
// contrib/prometheus/webpush-queries.yaml, against the test cluster, as a
// role with webpush_monitor only.  Its /metrics has every metric the file
// defines, without a query error, and the counters move after a send.  The
// Grafana dashboard (contrib/grafana/webpush.json) uses only those metric
// names; its panels, drawn from scrapes taken while notifications go out,
// make the picture in docs/operations.md
// (WEBPUSH_DASHBOARD_PNG=docs/grafana-dashboard.png).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { setUpFile, tearDownFile, SLOW, Session, createRole, storeSubscription } = require('./helpers');

const EXPORTER = process.env.POSTGRES_EXPORTER || '/usr/bin/prometheus-postgres-exporter';
const QUERIES = path.join(__dirname, '..', '..', 'contrib', 'prometheus', 'webpush-queries.yaml');
const DASHBOARD = path.join(__dirname, '..', '..', 'contrib', 'grafana', 'webpush.json');
const PICTURE = process.env.WEBPUSH_DASHBOARD_PNG ||
  path.join(process.env.WEBPUSH_TEST_TLS, '..', 'grafana-dashboard.png');

let service;
const db = new Session('postgres', { reconnect: true });
let exporter;
let exporterLog = '';
let url;
const scrapes = []; // { t (s), samples: [{ name, labels, value }] }

const { until } = db;

async function freePort() {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// The text exposition format, the lines that matter here.
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[3] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return samples;
}

async function scrape() {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  const samples = parseMetrics(await res.text());
  scrapes.push({ t: Date.now() / 1000, samples });
  return samples;
}

const value = (samples, name, labels = {}) => samples
  .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  .reduce((sum, s) => sum + s.value, 0);

before(async () => {
  service = await setUpFile(db);
  await createRole(db, 'regress_exporter', ['webpush_monitor', 'pg_monitor']);
  const port = await freePort();
  url = `http://127.0.0.1:${port}/metrics`;
  exporter = spawn(EXPORTER, [`--web.listen-address=127.0.0.1:${port}`, `--extend.query-path=${QUERIES}`,
    '--disable-settings-metrics'], {
    env: {
      ...process.env,
      DATA_SOURCE_NAME: `host=${process.env.PGHOST} port=${process.env.PGPORT} dbname=postgres user=regress_exporter sslmode=disable`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exporter.stdout.on('data', (d) => { exporterLog += d; });
  exporter.stderr.on('data', (d) => { exporterLog += d; });
  await until('the exporter to answer', async () => {
    try {
      return (await fetch(url)).status === 200;
    } catch (e) {
      return false;
    }
  });
});

after(async () => {
  if (exporter) exporter.kill('SIGTERM');
  await db.query('DROP ROLE IF EXISTS regress_exporter');
  await tearDownFile(db, service);
});

// The metric names the queries file defines, as the exporter names them.
function definedMetrics() {
  const yaml = fs.readFileSync(QUERIES, 'utf8');
  const names = [];
  let query = null;
  for (const line of yaml.split('\n')) {
    let m;
    if ((m = /^([a-z_]+):$/.exec(line))) query = m[1];
    else if ((m = /^ {4}- ([a-z_]+):$/.exec(line))) names.push({ query, column: m[1] });
    else if ((m = /^ {8}usage: "(\w+)"$/.exec(line))) names[names.length - 1].usage = m[1];
  }
  return names.filter((n) => n.usage !== 'LABEL').flatMap(({ query, column, usage }) => {
    const name = `${query}_${column}`;
    return usage === 'HISTOGRAM' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
  });
}

test('the exporter runs every query of the file, as webpush_monitor, without an error', async () => {
  const samples = await scrape();
  const errors = samples.filter((s) => s.name === 'pg_exporter_user_queries_load_error');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].value, 0, 'the queries file loaded');
  const defined = definedMetrics();
  assert.ok(defined.length >= 15, `the file defines its metrics (${defined.length})`);
  // Counters and gauges need a row: one is there once anything was counted.
  const sub = service.subscribe();
  const id = await storeSubscription(db, sub);
  await db.query("SELECT webpush_send($1::bigint, 'warm-up')", [id]);
  await service.waitFor(() => service.received(sub.endpoint).length === 1);
  await until('the warm-up counted', async () =>
    value(await scrape(), 'webpush_delivered_total', { application: 'default', host: 'localhost' }) > 0);
  const names = new Set(scrapes[scrapes.length - 1].samples.map((s) => s.name));
  assert.deepEqual(defined.filter((n) => !names.has(n)), [], 'every metric of the file is scraped');
  assert.doesNotMatch(exporterLog, /Error running query|Error retrieving/);
});

test('the counters move after a send', async () => {
  const labels = { application: 'default', host: 'localhost' };
  const before = await scrape();
  const subs = [service.subscribe(), service.subscribe(), service.subscribe()];
  service.respond(subs[2].endpoint, { status: 410 });
  for (const sub of subs) {
    const id = await storeSubscription(db, sub);
    await db.query("SELECT webpush_send($1::bigint, 'counted')", [id]);
  }
  const after = await until('the exporter to show the sends', async () => {
    const s = await scrape();
    return value(s, 'webpush_delivered_total', labels) === value(before, 'webpush_delivered_total', labels) + 2 &&
      value(s, 'webpush_gone_total', labels) === value(before, 'webpush_gone_total', labels) + 1 && s;
  });
  assert.equal(value(after, 'webpush_requests_total', labels), value(before, 'webpush_requests_total', labels) + 3);
  assert.equal(value(after, 'webpush_delivery_latency_seconds_count', labels),
    value(before, 'webpush_delivery_latency_seconds_count', labels) + 2);
  assert.ok(value(after, 'webpush_sent_bytes_total', labels) > value(before, 'webpush_sent_bytes_total', labels));
  assert.equal(value(after, 'webpush_delivery_latency_seconds_bucket', { ...labels, le: '+Inf' }),
    value(after, 'webpush_delivery_latency_seconds_count', labels));
});

// PromQL, the forms the dashboard uses, over the scrapes taken here.
function evaluate(expr) {
  let m;
  const series = (name, by) => scrapes.map(({ t, samples }) => {
    const groups = {};
    for (const s of samples.filter((x) => x.name === name)) {
      const key = by ? by.map((l) => s.labels[l]).join(',') : '';
      groups[key] = (groups[key] || 0) + s.value;
    }
    return { t, groups };
  });
  const rate = (points) => points.slice(1).map((p, i) => {
    const prev = points[i];
    const groups = {};
    for (const [k, v] of Object.entries(p.groups)) groups[k] = Math.max(v - (prev.groups[k] || 0), 0) / (p.t - prev.t);
    return { t: p.t, groups };
  });
  if ((m = /^histogram_quantile\(([\d.]+), sum by \(le\) \(rate\((\w+)\[\w+\]\)\)\)$/.exec(expr))) {
    const q = Number(m[1]);
    return rate(series(m[2], ['le'])).map(({ t, groups }) => {
      const buckets = Object.entries(groups).map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n])
        .sort((a, b) => a[0] - b[0]);
      const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
      if (total === 0) return { t, groups: {} };
      let lower = 0;
      let below = 0;
      for (const [le, n] of buckets) {
        if (n >= q * total) {
          const upper = le === Infinity ? lower : le;
          return { t, groups: { '': lower + (upper - lower) * ((q * total - below) / Math.max(n - below, 1e-9)) } };
        }
        lower = le;
        below = n;
      }
      return { t, groups: {} };
    });
  }
  if ((m = /^sum(?: by \((\w+)\) )?\(rate\((\w+)\[\w+\]\)\)$/.exec(expr))) return rate(series(m[2], m[1] && [m[1]]));
  if ((m = /^(sum|max)\((\w+)\)$/.exec(expr))) {
    if (m[1] === 'sum') return series(m[2]);
    return scrapes.map(({ t, samples }) => ({
      t, groups: { '': Math.max(0, ...samples.filter((s) => s.name === m[2]).map((s) => s.value)) },
    }));
  }
  throw new Error(`the dashboard uses a form this test does not draw: ${expr}`);
}

test('the Grafana dashboard asks only for metrics the exporter gives', async () => {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
  assert.ok(exprs.length >= 8);
  const scraped = new Set(scrapes[scrapes.length - 1].samples.map((s) => s.name));
  const used = [...new Set(exprs.flatMap((e) => e.match(/\bwebpush_\w+/g)))];
  assert.deepEqual(used.filter((n) => !scraped.has(n)), [], 'metric names the exporter does not give');
  for (const e of exprs) evaluate(e); // every form is one this test can draw
});

test('the dashboard drawn from scrapes while notifications go out', { timeout: 120000 * SLOW }, async () => {
  const subs = [];
  for (let i = 0; i < 6; i++) {
    const sub = service.subscribe();
    subs.push({ ...sub, id: await storeSubscription(db, sub, 'chart') });
  }
  service.respond(subs[0].endpoint, { status: 429, headers: { 'retry-after': '1' } }, { status: 503, headers: { 'retry-after': '1' } });
  service.respond(subs[1].endpoint, { status: 410 });
  // Rounds of sends, scraped between them: sampling for a chart, not waiting.
  for (let round = 0; round < 12; round++) {
    await db.query("SELECT * FROM webpush_send_user('chart', $1)", [`round ${round}`]);
    await db.query(`SELECT webpush_send($1::bigint, 'later', send_at => now() + interval '1 hour')`, [subs[2].id]);
    await new Promise((r) => setTimeout(r, 400));
    await scrape();
  }
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
  const html = renderDashboard(dashboard);
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--no-proxy-server', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.setContent(html);
    fs.mkdirSync(path.dirname(PICTURE), { recursive: true });
    await page.screenshot({ path: PICTURE, fullPage: true });
  } finally {
    await browser.close();
  }
  assert.ok(fs.statSync(PICTURE).size > 10000, `the picture was written: ${PICTURE}`);
});

const COLORS = ['#73bf69', '#f2cc0c', '#5794f2', '#ff780a', '#b877d9', '#f2495c'];

function renderDashboard(dashboard) {
  const t0 = scrapes[0].t;
  const panels = dashboard.panels.map((panel) => {
    const lines = panel.targets.flatMap((target, ti) => {
      const points = evaluate(target.expr);
      const keys = [...new Set(points.flatMap((p) => Object.keys(p.groups)))];
      return keys.map((key, ki) => ({
        label: target.legendFormat.replace(/\{\{\w+\}\}/, key || 'none'),
        color: COLORS[(ti + ki) % COLORS.length],
        points: points.filter((p) => key in p.groups).map((p) => [p.t - t0, p.groups[key]]),
      }));
    });
    const W = 560; const H = 190;
    const tMax = Math.max(1, ...lines.flatMap((l) => l.points.map((p) => p[0])));
    const vMax = Math.max(1e-9, ...lines.flatMap((l) => l.points.map((p) => p[1])));
    const x = (t) => 40 + (t / tMax) * (W - 50);
    const y = (v) => H - 20 - (v / vMax) * (H - 30);
    const paths = lines.map((l) => `<polyline fill="none" stroke="${l.color}" stroke-width="2"
        points="${l.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}"/>`).join('');
    const legend = lines.map((l) => `<span style="color:${l.color}">&#9632; ${l.label}</span>`).join(' ');
    const unit = panel.fieldConfig.defaults.unit;
    return `<div class="panel"><div class="title">${panel.title}</div>
      <svg width="${W}" height="${H}"><line x1="40" y1="${H - 20}" x2="${W - 10}" y2="${H - 20}" stroke="#444"/>
      <text x="2" y="14" fill="#888" font-size="11">${Number(vMax.toPrecision(3))} ${unit}</text>
      <text x="2" y="${H - 22}" fill="#888" font-size="11">0</text>
      <text x="${W - 40}" y="${H - 4}" fill="#888" font-size="11">${Math.round(tMax)} s</text>${paths}</svg>
      <div class="legend">${legend}</div></div>`;
  }).join('');
  return `<!doctype html><html><head><style>
    body { background: #111217; color: #ccccdc; font-family: sans-serif; margin: 12px; }
    h1 { font-size: 18px; font-weight: normal; }
    .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
    .panel { background: #181b1f; border: 1px solid #2c3235; padding: 8px; }
    .title { font-size: 13px; margin-bottom: 4px; }
    .legend { font-size: 11px; }
    </style></head><body><h1>${dashboard.title}: ${dashboard.description}</h1>
    <div class="grid">${panels}</div></body></html>`;
}
