'use strict';
// webpush.payload_limits: a push service host with a smaller limit than
// 4096 bytes (Firefox for Android behind Mozilla's autopush) gets nothing
// larger; such a notification fails with the reason, and what fits goes.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startService, connectRetrying, until, SLOW } = require('./helpers');

let service, db;

const value = async (sql, params) => Object.values((await db.query(sql, params)).rows[0])[0];

before(async () => {
  service = await startService();
  db = await connectRetrying();
  await db.query('CREATE EXTENSION IF NOT EXISTS webpush');
});

after(async () => {
  await db.query('ALTER SYSTEM RESET webpush.payload_limits');
  await db.query('SELECT pg_reload_conf()');
  await db.end();
  await service.stop();
});

test('a notification above a host\'s payload limit fails with the reason; one that fits is delivered', async () => {
  const sub = service.subscribe();
  const id = await value('SELECT webpush_subscribe($1)', [sub]);
  const host = new URL(sub.endpoint).host;
  await assert.rejects(db.query("ALTER SYSTEM SET webpush.payload_limits = 'localhost=100'"),
    /invalid value for parameter "webpush.payload_limits"/);
  // The encrypted body of n bytes of payload is n + 103 bytes.
  await db.query(`ALTER SYSTEM SET webpush.payload_limits = '${host}=400, *.example.com=1000'`);
  await db.query('SELECT pg_reload_conf()');
  const big = 'x'.repeat(298);       // 401 bytes encrypted
  const fits = 'y'.repeat(297);      // 400
  // The worker applies the reload at its next turn: send until it has.
  const failed = await until('a notification refused by the limit', async () => {
    const m = await value('SELECT webpush_send($1::bigint, $2)', [id, big]);
    return until(`message ${m} recorded`, async () => (await db.query(
      'SELECT outcome, reason FROM webpush.history WHERE message_id = $1', [m])).rows[0])
      .then((row) => (row.outcome === 'failed' ? { m, row } : null));
  });
  assert.equal(failed.row.reason,
    `the encrypted body is 401 bytes, above the 400 that webpush.payload_limits allows for ${host}`);
  const before = service.received(sub.endpoint).length;
  const ok = await value('SELECT webpush_send($1::bigint, $2)', [id, fits]);
  await service.waitFor(() => service.received(sub.endpoint).length === before + 1, 10000 * SLOW);
  assert.equal(service.received(sub.endpoint).at(-1).payload.toString(), fits);
  await until('the one that fits recorded', async () =>
    (await value("SELECT count(*) FROM webpush.history WHERE message_id = $1 AND outcome = 'delivered'", [ok])) === '1');
  // Nothing above the limit reached the service after the refusal.
  assert.ok(!service.received(sub.endpoint).slice(before).some((m) => m.payload.length > 297));
});
