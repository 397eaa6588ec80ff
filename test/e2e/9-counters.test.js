'use strict';
// The counters in shared memory: they count what the worker does (by
// application, host and reason), never go down when the history is purged,
// survive a restart, and start over only with webpush_counters_reset().
// And the trace: "why didn't alice get it?" in one query, for a delivered,
// a failed, a gone and a cancelled notification.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { setUpFile, tearDownFile, restartWith, Session, newSubscriber } = require('./helpers');

let service;
const db = new Session('postgres', { reconnect: true });
const { until, value } = db;
const subscribe = (userId) => newSubscriber(db, service, userId);

async function counters() {
  const { rows } = await db.query(`SELECT sent, delivered, gone, failed, expired, cancelled, refused,
      retried_rate_limited, retried_server_error, retried_timeout, retried_connection,
      bytes_sent, latency_count, latency_sum, stats_reset
    FROM webpush.counters WHERE application = 'default' AND host = 'localhost'`);
  assert.equal(rows.length, 1, 'one row for the default application at localhost');
  const r = rows[0];
  for (const k of Object.keys(r)) if (k !== 'stats_reset') r[k] = Number(r[k]);
  return r;
}

const ids = {};
// Other tests in this database have an alice too.
const ALICE = 'alice-counters';

before(async () => {
  service = await setUpFile(db);
  await db.query('SELECT webpush_counters_reset()');
});

after(async () => {
  await db.query('ALTER SYSTEM RESET webpush.history_retention');
  await db.query('SELECT pg_reload_conf()');
  await tearDownFile(db, service);
});

test('the counters count what the worker did, by host and reason', async () => {
  const ok = await subscribe(ALICE);
  const gone = await subscribe(ALICE);
  const bad = await subscribe(ALICE);
  const limited = await subscribe('bob-counters');
  const down = await subscribe('bob-counters');
  service.respond(gone.endpoint, { status: 410 });
  service.respond(bad.endpoint, { status: 400, body: 'bad payload' });
  service.respond(limited.endpoint, { status: 429, headers: { 'retry-after': '1' } });
  service.respond(down.endpoint, { status: 503, headers: { 'retry-after': '1' } });
  for (const [name, sub] of Object.entries({ ok, gone, bad, limited, down })) {
    ids[name] = await value('SELECT webpush_send($1::bigint, $2::text) AS id', [sub.id, `to ${name}`]);
  }
  await until('every outcome recorded', async () =>
    Number(await value('SELECT count(*) FROM webpush.history WHERE message_id = ANY ($1)',
      [Object.values(ids)])) === 5);

  const c = await counters();
  assert.equal(c.delivered, 3, 'ok, and the two retried ones');
  assert.equal(c.gone, 1);
  assert.equal(c.failed, 1);
  assert.equal(c.retried_rate_limited, 1);
  assert.equal(c.retried_server_error, 1);
  assert.equal(c.sent, 7, 'five first attempts and two retries');
  assert.equal(c.latency_count, 3);
  assert.ok(c.latency_sum >= 2, `the retried ones waited a second each (${c.latency_sum})`);
  assert.ok(c.bytes_sent >= 7 * 100, `bytes of the encrypted bodies (${c.bytes_sent})`);

  const { rows: [status] } = await db.query('SELECT * FROM webpush.status');
  assert.equal(Number(status.delivered), 3);
  assert.equal(Number(status.gone), 1);
  assert.equal(Number(status.failed), 1);
  const { rows: [host] } = await db.query("SELECT * FROM webpush.status_by_host WHERE host = 'localhost'");
  assert.match(host.last_problem, /HTTP (400|410|429|503)/);
  assert.ok(host.last_problem_at <= new Date(), 'the last problem happened in the past');
  assert.equal(host.next_retry_at, null, 'nothing waits for a retry');
});

test("why didn't alice get it: one query, for delivered, failed, gone and cancelled", async () => {
  const ok = await value('SELECT subscription_id FROM webpush.history WHERE message_id = $1', [ids.ok]);
  const later = await value(`SELECT webpush_send($1::bigint, 'tomorrow', send_at => now() + interval '1 day')`, [ok]);
  assert.equal(Number(await value('SELECT webpush_cancel($1)', [later])), 1);

  const { rows } = await db.query(
    'SELECT message_id, state, host, status, reason, user_id FROM webpush_trace(for_user => $1)', [ALICE]);
  const byMessage = Object.fromEntries(rows.map((r) => [r.message_id, r]));
  assert.equal(byMessage[ids.ok].state, 'delivered');
  assert.equal(byMessage[ids.ok].host, 'localhost');
  assert.equal(byMessage[ids.bad].state, 'failed');
  assert.equal(byMessage[ids.bad].status, 400);
  assert.match(byMessage[ids.bad].reason, /bad payload/);
  // The 410 deleted the subscription; the history still knows it was alice's.
  assert.equal(Number(await value('SELECT count(*) FROM webpush.subscriptions WHERE user_id = $1', [ALICE])), 2);
  assert.equal(byMessage[ids.gone].state, 'gone');
  assert.equal(byMessage[ids.gone].status, 410);
  assert.equal(byMessage[ids.gone].user_id, ALICE);
  assert.equal(byMessage[later].state, 'cancelled');
  assert.equal(rows.length, 4, `alice's four, none of bob's: ${JSON.stringify(rows)}`);
  // The cancellation is counted too (no host: it was never sent).
  assert.equal(Number(await value(
    "SELECT cancelled FROM webpush.counters WHERE application = 'default' AND host IS NULL")), 1);
});

test('purging the history lowers no counter', async () => {
  const before = await counters();
  await db.query("ALTER SYSTEM SET webpush.history_retention = '0'");
  await db.query('SELECT pg_reload_conf()');
  await until('the history purged', async () =>
    Number(await value('SELECT count(*) FROM webpush.history WHERE message_id = ANY ($1)',
      [Object.values(ids)])) === 0);
  const purged = await counters();
  assert.deepEqual(purged, before);
  const { rows: [status] } = await db.query('SELECT delivered, failed, gone FROM webpush.status');
  assert.deepEqual([status.delivered, status.failed, status.gone].map(Number), [3, 1, 1]);
});

test('a restart keeps the counters and their reset time', async () => {
  const before = await counters();
  await restartWith(db, { 'webpush.history_retention': null });
  const restarted = await counters();
  assert.deepEqual(restarted, before);
});

test('a DROP DATABASE that fails keeps the counters', async () => {
  const before = await counters();
  const name = await value('SELECT current_database()');
  await assert.rejects(db.query(`DROP DATABASE "${name}"`), /currently open database/);
  assert.deepEqual(await counters(), before);
  // The drop paused the database's worker (so that the drop could go on);
  // the launcher starts it again.
  await until('the worker is back', async () => Number(await value(
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'webpush worker' AND datname = current_database()")) > 0,
  60000);
});

test('webpush_counters_reset() starts them over, and says when', async () => {
  const before = await counters();
  const reset = await value('SELECT webpush_counters_reset()');
  assert.ok(reset > before.stats_reset);
  const { rows } = await db.query(
    "SELECT sent, delivered, stats_reset FROM webpush.counters WHERE application = 'default'");
  for (const r of rows) {
    assert.equal(Number(r.sent), 0);
    assert.equal(Number(r.delivered), 0);
    assert.deepEqual(r.stats_reset, reset);
  }
});

test("a trigger's source row finds what a business row sent, through the worker too", async () => {
  const sub = service.subscribe();
  await db.query('SELECT webpush_subscribe($1, $2)', [sub, 'olga-counters']);
  await db.query(`CREATE TABLE refunds (id int PRIMARY KEY, user_id text);
    CREATE TRIGGER refunds_notify AFTER INSERT ON refunds FOR EACH ROW
      EXECUTE FUNCTION webpush_notify('user_id', 'Refund {id}', '', '', 'default', 'source=refunds/{id}')`);
  try {
    // The session's first firing queues the message itself; the next ones
    // leave a row of webpush.intake, which the worker makes into a message.
    for (const id of [1, 2, 3]) await db.query('INSERT INTO refunds VALUES ($1, $2)', [id, 'olga-counters']);
    await service.waitFor(() => service.received(sub.endpoint).length === 3);
    const { rows } = await db.query(
      "SELECT source, recipients FROM webpush.message_status WHERE source LIKE 'refunds/%' ORDER BY source");
    assert.deepEqual(rows.map((r) => [r.source, r.recipients]), [['refunds/1', 1], ['refunds/2', 1], ['refunds/3', 1]]);
  } finally {
    await db.query('DROP TABLE refunds');
  }
});
