'use strict';
// docs/sql-reference.md's examples, as a reader types them in: every ```sql
// block of the page, in order, through psql, against a fresh database and
// the test push service.  Only the sample subscription is replaced by one
// of the test push service.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startService, connect, freshDatabase, sqlLiteral: literal, psql } = require('./helpers');

let service;
let db;

function sqlBlocks() {
  const page = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'sql-reference.md'), 'utf8');
  return [...page.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]);
}

before(async () => {
  service = await startService();
  db = await freshDatabase('webpush_sqlref');
});

after(async () => {
  await db.end();
  const admin = await connect();
  await admin.query('DROP DATABASE IF EXISTS webpush_sqlref WITH (FORCE)');
  await admin.end();
  await service.stop();
});

test('every example of docs/sql-reference.md runs as written', async () => {
  const blocks = sqlBlocks();
  assert.ok(blocks.length >= 5, `the page has its examples (${blocks.length})`);
  const sample = /'\{"endpoint": [^']*\}'/;
  assert.equal(blocks.filter((b) => sample.test(b)).length, 1, 'one block pastes a subscription');
  const subscription = service.subscribe();
  const script = blocks.map((b) => b.replace(sample, literal(JSON.stringify(subscription)))).join('\n');
  let out;
  try {
    out = await psql('webpush_sqlref', script);
  } catch (err) {
    assert.fail(`an example failed: ${err.stderr}`);
  }

  // The broadcast made one message, with one delivery per subscription:
  // the form in FROM calls the function once.
  const { rows: sale } = await db.query(
    "SELECT m.id, m.recipients, (SELECT count(*) FROM webpush.deliveries d WHERE d.message_id = m.id)::int AS deliveries FROM webpush.messages m WHERE m.payload = 'Sale!'::bytea");
  assert.equal(sale.length, 1, 'webpush_send_many ran once');
  assert.equal(sale[0].recipients, 1);
  assert.equal(sale[0].deliveries, 1);
  // The reminder was cancelled, the one-off sent now was answered.
  const { rows: [reminder] } = await db.query(
    "SELECT count(*)::int AS n FROM webpush.history WHERE outcome = 'cancelled'");
  assert.equal(reminder.n, 1);
  assert.match(out, /^201\|/m, 'webpush_send_now returned the push service\'s 201');
  assert.equal(service.received(subscription.endpoint).length, 1);
  // The trace listed alice's notifications.
  assert.match(out, /\|cancelled\|/);
});
