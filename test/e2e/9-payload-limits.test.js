'use strict';
// webpush.payload_limits: a push service host with a smaller limit than
// 4096 bytes (Firefox for Android behind Mozilla's autopush) gets nothing
// larger; such a notification fails with the reason, and what fits goes.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { setUpFile, tearDownFile, reloadWorker, storeSubscription, SLOW, Session } = require('./helpers');

let service;
const db = new Session();
const { until, value } = db;

before(async () => {
  service = await setUpFile(db);
});

after(async () => {
  await db.query('ALTER SYSTEM RESET webpush.payload_limits');
  await db.query('SELECT pg_reload_conf()');
  await tearDownFile(db, service);
});

test('a notification above a host\'s payload limit fails with the reason; one that fits is delivered', async () => {
  const sub = service.subscribe();
  const id = await storeSubscription(db, sub);
  const host = new URL(sub.endpoint).host;
  await assert.rejects(db.query("ALTER SYSTEM SET webpush.payload_limits = 'localhost=100'"),
    /invalid value for parameter "webpush.payload_limits"/);
  // The encrypted body of n bytes of payload is n + 103 bytes.
  await db.query(`ALTER SYSTEM SET webpush.payload_limits = '${host}=400, *.example.com=1000'`);
  await reloadWorker(db);
  const big = await value('SELECT webpush_send($1::bigint, $2)', [id, 'x'.repeat(298)]);   // 401 bytes
  const fits = await value('SELECT webpush_send($1::bigint, $2)', [id, 'y'.repeat(297)]);  // 400
  await until('both recorded', async () =>
    Number(await value('SELECT count(*) FROM webpush.history WHERE message_id IN ($1, $2)', [big, fits])) === 2);
  const outcome = async (m) => (await db.query('SELECT outcome, reason FROM webpush.history WHERE message_id = $1', [m])).rows[0];
  assert.deepEqual(await outcome(big), {
    outcome: 'failed',
    reason: `the encrypted body is 401 bytes, above the 400 that webpush.payload_limits allows for ${host}`,
  });
  assert.equal((await outcome(fits)).outcome, 'delivered');
  await service.waitFor(() => service.received(sub.endpoint).length === 1, 10000 * SLOW);
  assert.deepEqual(service.received(sub.endpoint).map((m) => m.payload.toString()), ['y'.repeat(297)]);
});
