'use strict';
// What a role without privileges could do to others, tried on the real
// server: queue past its limit from several sessions at once, start
// workers with statements that change nothing, and read keys from the log.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  setUpFile, tearDownFile, connect, restartWith, configure, Session, storeSubscription, createRole, recreateDatabase,
  serverLog,
} = require('./helpers');

let service;
const db = new Session();
const { until, value } = db;

before(async () => {
  service = await setUpFile(db);
  await configure(db);
});

after(() => tearDownFile(db, service));

test('the per-role limit holds across concurrent transactions', async () => {
  const LIMIT = 2;
  const SESSIONS = 5;
  await createRole(db, 'regress_burst', ['webpush_sender']);
  await db.query(`ALTER ROLE regress_burst SET webpush.max_queued_per_role = ${LIMIT}`);
  const sub = service.subscribe();
  // The messages must wait: a service that answers only after the test.
  service.respond(sub.endpoint, { status: 503, headers: { 'retry-after': '3600' } });
  const id = await storeSubscription(db, sub, 'burst');
  const clients = [];
  for (let i = 0; i < SESSIONS; i++) clients.push(await connect('postgres', 'regress_burst'));
  const holder = await connect();
  try {
    // Each session queues one message, then waits at a barrier the test
    // holds, inside its transaction: without a lock per role, all of them
    // would count only what was committed before them.  REPEATABLE READ,
    // with the snapshot taken before anyone queued: the count must see what
    // the others committed all the same.
    await holder.query('SELECT pg_advisory_lock(4711)');
    const runs = clients.map((c, i) => c.query(
      `BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1;
       SELECT webpush_send(${id}::bigint, 'burst ${i}'); SELECT pg_advisory_lock_shared(4711); COMMIT;`)
      .then(() => 'ok', (e) => { c.query('ROLLBACK').catch(() => {}); return e.code; }));
    await until('every session queued or waits for a lock', async () =>
      Number(await value(`SELECT count(*) FROM pg_stat_activity
                          WHERE usename = 'regress_burst' AND wait_event_type = 'Lock'`)) === SESSIONS);
    await holder.query('SELECT pg_advisory_unlock(4711)');
    const outcomes = await Promise.all(runs);
    assert.equal(outcomes.filter((o) => o === 'ok').length, LIMIT, `outcomes: ${outcomes}`);
    assert.equal(outcomes.filter((o) => o === '53400').length, SESSIONS - LIMIT, `outcomes: ${outcomes}`);
    assert.equal(Number(await value(
      "SELECT count(*) FROM webpush.messages WHERE queued_by = 'regress_burst'::regrole")), LIMIT);
  } finally {
    for (const c of clients) await c.end();
    await holder.end();
    await db.query('SELECT webpush_unsubscribe_user($1)', ['burst']);
    await db.query('DELETE FROM webpush.deliveries WHERE subscription_id = $1', [id]);
    await db.query('DROP ROLE regress_burst');
  }
});

test('DROP EXTENSION IF EXISTS where there is none starts no worker', async () => {
  await restartWith(db, { 'webpush.database_name': 'postgres,webpush_noext', log_min_messages: 'debug1' });
  try {
    await recreateDatabase(db, 'webpush_noext');
    const log = serverLog();
    const other = await connect('webpush_noext');
    await other.query('SET client_min_messages = warning');
    for (let i = 0; i < 10; i++) await other.query('DROP EXTENSION IF EXISTS webpush');
    // Then a statement that does install it: its worker is the first.
    await other.query('CREATE EXTENSION webpush');
    await other.end();
    const started = () => log.count(/starting background worker process "webpush worker 1 for database webpush_noext"/g);
    await until('the worker for CREATE EXTENSION', async () => started() >= 1);
    await until('it serves', async () =>
      Number(await value("SELECT count(*) FROM webpush_workers() WHERE database = 'webpush_noext' AND pid IS NOT NULL")) === 1);
    assert.equal(started(), 1, 'one worker start, for CREATE EXTENSION only');
    await db.query('DROP DATABASE webpush_noext');
  } finally {
    await restartWith(db, { 'webpush.database_name': null, log_min_messages: null });
  }
});

test('no error of a function that takes a private key logs the key', async () => {
  const log = serverLog();
  const key = 'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw';
  // A valid key, failing later: in the application lookup, its name, NULL.
  await assert.rejects(db.query(`SELECT webpush_keys_import('${key}', 'nosuchapp')`),
    /webpush application "nosuchapp" does not exist/);
  await assert.rejects(db.query(`SELECT webpush_keys_import('${key}', 'Shop')`), /invalid application name/);
  await assert.rejects(db.query(`SELECT webpush_keys_import('${key}', NULL)`), /must not be NULL|invalid application/);
  // webpush_encrypt with a valid sender key and another bad argument.
  await assert.rejects(db.query(`SELECT webpush_encrypt('x', 'not a key', 'BTBZMqHH6r4Tts7J_aSIgg', NULL, '${key}')`),
    /invalid p256dh/);
  // From PL/pgSQL: the CONTEXT line quotes the statement too.
  await assert.rejects(db.query(`DO $$ BEGIN PERFORM webpush_keys_import('${key}', 'nosuchapp'); END $$`),
    /webpush application "nosuchapp" does not exist/);
  await log.flushed(db);
  const written = log.text();
  assert.match(written, /webpush application "nosuchapp" does not exist/, 'the errors are logged');
  assert.ok(!written.includes(key), `the key is not:\n${written}`);
});

test('an outcome is recorded only for the row the worker still holds', async () => {
  // While the worker waits for the push service's answer, its delivery row
  // goes away and another row takes the same place in the table (the same
  // ctid): a retry waiting for its time, which the worker does not hold.
  // The answer must not record or delete that row.
  const sub = service.subscribe();
  const id = await storeSubscription(db, sub, 'held-1');
  // A table of one page, so that the freed place is the one refilled:
  // what earlier tests left waiting goes.
  await db.query('DELETE FROM webpush.deliveries WHERE claimed_by IS NULL');
  await until('an empty queue', async () => Number(await value('SELECT count(*) FROM webpush.deliveries')) === 0);
  await db.query('VACUUM webpush.deliveries');
  let swapped = null;
  service.respond(sub.endpoint, {
    respondWith: async (res) => {
      const c = await connect();
      try {
        const { rows: [held] } = await c.query(
          'SELECT ctid::text AS ctid, message_id FROM webpush.deliveries WHERE subscription_id = $1', [id]);
        await c.query('DELETE FROM webpush.deliveries WHERE subscription_id = $1', [id]);
        await c.query('VACUUM webpush.deliveries');
        // Refill the freed places with retries due in an hour; keep the one
        // in the held row's place.
        const { rows } = await c.query(
          `INSERT INTO webpush.deliveries (message_id, subscription_id, attempts, next_attempt_at)
           SELECT $1, 900000 + g, 1, now() + interval '1 hour' FROM generate_series(1, 20) g
           RETURNING ctid::text AS ctid, subscription_id`, [held.message_id]);
        const same = rows.find((r) => r.ctid === held.ctid);
        await c.query('DELETE FROM webpush.deliveries WHERE subscription_id >= 900000 AND subscription_id <> $1',
          [same ? same.subscription_id : 0]);
        swapped = { held: held.ctid, same, message: held.message_id };
      } finally {
        await c.end();
      }
      res.writeHead(201);
      res.end();
    },
  });
  const msg = await value('SELECT webpush_send($1::bigint, $2::text)', [id, 'answered late']);
  await until('the swap', async () => swapped !== null);
  assert.ok(swapped.same, `a retry took the held row's place (${swapped.held})`);
  assert.equal(String(swapped.message), String(msg));
  // A later message through the same worker is recorded after the answer
  // above was handled.
  const after = await value('SELECT webpush_send($1::bigint, $2::text)', [id, 'after']);
  await until('the later message recorded', async () =>
    Number(await value('SELECT count(*) FROM webpush.history WHERE message_id = $1', [after])) === 1);
  const { rows } = await db.query(
    'SELECT claimed_by, attempts FROM webpush.deliveries WHERE subscription_id = $1', [swapped.same.subscription_id]);
  assert.deepEqual(rows, [{ claimed_by: null, attempts: 1 }], 'the retry is untouched');
  assert.equal(Number(await value('SELECT count(*) FROM webpush.history WHERE subscription_id >= 900000')), 0,
    'nothing recorded for it');
  await db.query('DELETE FROM webpush.deliveries WHERE subscription_id >= 900000');
  await db.query('SELECT webpush_unsubscribe_user($1)', ['held-1']);
});
