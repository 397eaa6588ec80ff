'use strict';
// The README's tutorial, as a reader types it in: every ```sql block of the
// section "Five-minute tutorial", in order, through psql, against a fresh
// database and the test push service.  The blocks are taken as they are;
// only the sample subscription pasted into webpush_subscribe is replaced
// by one of the test push service, as a reader pastes the one
// scripts/dev-push-service.sh prints.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startService, connect, restartWith, until, sqlLiteral: literal, psql } = require('./helpers');

let service;
let db;

function tutorialBlocks() {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const start = readme.indexOf('## Five-minute tutorial');
  const end = readme.indexOf('\n## ', start + 1);
  assert.ok(start >= 0 && end > start, 'the README has the tutorial section');
  const section = readme.slice(start, end);
  return [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], text: m[2] }));
}

before(async () => {
  service = await startService();
  db = await connect();
  // Step 1's settings; the worker serves every database, as a default
  // install does.  (The cluster already trusts the test CA and allows the
  // loopback push service: test/cluster.sh.)
  db = await restartWith(db, { 'webpush.database_name': '', 'webpush.subject': 'mailto:ops@myapp.example' });
});

after(async () => {
  await db.query('DROP DATABASE IF EXISTS myapp WITH (FORCE)');
  await db.query('DROP ROLE IF EXISTS myapp_server');
  db = await restartWith(db, { 'webpush.database_name': null, 'webpush.subject': null });
  await db.end();
  await service.stop();
});

test('the tutorial, typed in as written, ends with the order notification delivered', async () => {
  const blocks = tutorialBlocks();
  const conf = blocks.find((b) => b.lang === '');
  assert.match(conf.text, /shared_preload_libraries = 'webpush'/);
  const sql = blocks.filter((b) => b.lang === 'sql').map((b) => b.text);
  assert.ok(sql.length >= 5, `the tutorial has its SQL blocks (${sql.length})`);

  const subscription = service.subscribe();
  // The key the browser subscribed with is the one step 2 printed.
  const sample = /'\{"endpoint": [^']*\}'/;
  assert.ok(sql.some((text) => sample.test(text)), 'step 5 pastes a subscription');
  const script = sql.map((text) => text.replace(sample, literal(JSON.stringify(subscription)))).join('\n');
  // As written, the sample is a subscription webpush_subscribe takes.
  const asWritten = sql.find((text) => sample.test(text)).match(sample)[0];
  assert.equal(JSON.parse(asWritten.slice(1, -1)).keys.auth.length, 22);
  const out = await psql('postgres', script);

  // What the reader sees at the end: the order's notification, on its way
  // or delivered.
  const last = out.trim().split('\n').pop();
  assert.match(last, /^(queued\|(localhost)?\||sending\|localhost\||delivered\|localhost\|201)$/,
    `webpush_trace after the INSERT: ${last}`);

  await service.waitFor(() => service.received(subscription.endpoint).length === 1);
  const [msg] = service.received(subscription.endpoint);
  assert.deepEqual(msg.errors, []);
  assert.equal(msg.claims.sub, 'mailto:ops@myapp.example');
  const { receipt, ...payload } = JSON.parse(msg.payload.toString('utf8'));
  assert.deepEqual(payload, { title: 'Order received', body: 'Your teapot is on its way', url: '/orders/1' });
  // The worker wrote this recipient's ids for the service worker's receipts.
  assert.ok(Number.isInteger(receipt.message) && Number.isInteger(receipt.subscription), JSON.stringify(receipt));

  const app = await connect('myapp');
  await until('the delivery recorded', async () => {
    const { rows } = await app.query("SELECT count(*)::int AS n FROM webpush.history WHERE outcome = 'delivered'");
    return rows[0].n === 1;
  }, async () => {});
  // The PL/pgSQL form compiled, and the application's role has no more
  // than the tutorial gave it: no private key.
  const { rows: fn } = await app.query("SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'notify_order'");
  assert.equal(fn[0].n, 1);
  await app.query('SET ROLE myapp_server');
  await assert.rejects(app.query('SELECT private_key FROM webpush.vapid_keys'), /permission denied/);
  await app.end();
});
