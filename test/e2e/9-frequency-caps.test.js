'use strict';
// Frequency caps: at most N messages delivered to a user of an application
// per window.  Over it the worker drops a notification (recorded as failed,
// with the reason, and counted) or defers it until the window has room;
// a message to several of a user's devices counts once; another user, a
// subscription without a user and an application without a cap are not
// held; urgency high is capped like the rest.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { setUpFile, tearDownFile, SLOW, Session } = require('./helpers');

let service;
const db = new Session();
const { until, value } = db;

// A new subscription of the push service, stored for user in application.
async function subscriber(application, user) {
  const sub = service.subscribe();
  sub.id = await value('SELECT webpush_subscribe($1, $2, $3)', [sub, user, application]);
  return sub;
}

async function counters(application) {
  const { rows } = await db.query(
    `SELECT coalesce(sum(capped_dropped), 0)::int AS dropped, coalesce(sum(capped_deferred), 0)::int AS deferred,
            coalesce(sum(failed), 0)::int AS failed, coalesce(sum(delivered), 0)::int AS delivered
     FROM webpush.counters WHERE application = $1`, [application]);
  return rows[0];
}

// Sends in one transaction, so that the worker claims them together.
async function sendAll(sends) {
  const ids = [];
  await db.query('BEGIN');
  for (const [sql, params] of sends) ids.push(await value(sql, params));
  await db.query('COMMIT');
  return ids;
}

const payloads = (sub) => service.received(sub.endpoint).map((m) => m.payload.toString()).sort();

before(async () => {
  service = await setUpFile(db);
  for (const app of ['cap-drop', 'cap-defer', 'cap-urgent', 'cap-none']) {
    await db.query('SELECT webpush_application($1, $2)', [app, `mailto:${app}@example.com`]);
  }
});

after(() => tearDownFile(db, service));

test('over a cap of 2 with drop: 2 of 5 messages reach a user, on each device; the rest fail with the reason and are counted', async () => {
  await db.query("SELECT webpush_application_frequency_cap('cap-drop', 2, '1 hour', 'drop')");
  const phone = await subscriber('cap-drop', 'ann');
  const laptop = await subscriber('cap-drop', 'ann');
  const bob = await subscriber('cap-drop', 'bob');
  const anonymous = await subscriber('cap-drop', null);
  const elsewhere = await subscriber('cap-none', 'ann');
  const before = await counters('cap-drop');

  // All in one transaction: claimed together, they must not all pass.
  const sends = [];
  for (let i = 1; i <= 5; i++) {
    sends.push(["SELECT message_id FROM webpush_send_user('ann', $1, application => 'cap-drop')", [`ann ${i}`]]);
    sends.push(["SELECT message_id FROM webpush_send_user('ann', $1, application => 'cap-none')", [`elsewhere ${i}`]]);
    sends.push(['SELECT webpush_send($1::bigint, $2)', [anonymous.id, `anonymous ${i}`]]);
  }
  sends.push(["SELECT message_id FROM webpush_send_user('bob', 'bob 1', application => 'cap-drop')", []]);
  sends.push(["SELECT message_id FROM webpush_send_user('bob', 'bob 2', application => 'cap-drop')", []]);
  const ids = await sendAll(sends);
  const annIds = ids.filter((_, i) => i < 15 && i % 3 === 0);

  await until('ann\'s ten deliveries recorded', async () => Number(await value(
    'SELECT count(*) FROM webpush.history WHERE message_id = ANY ($1)', [annIds])) === 10);
  const outcomes = (await db.query(
    `SELECT outcome, reason, attempts, count(*)::int AS n, count(DISTINCT message_id)::int AS messages
     FROM webpush.history WHERE message_id = ANY ($1) GROUP BY 1, 2, 3 ORDER BY 1`, [annIds])).rows;
  assert.deepEqual(outcomes, [
    { outcome: 'delivered', reason: null, attempts: 1, n: 4, messages: 2 },
    { outcome: 'failed', reason: 'frequency cap: 2 per 01:00:00 (dropped)', attempts: 0, n: 6, messages: 3 },
  ]);
  // A message counts once for the user: both devices have the same two.
  await service.waitFor(() => service.received(laptop.endpoint).length === 2 &&
    service.received(phone.endpoint).length === 2, 5000);
  assert.deepEqual(payloads(phone), payloads(laptop));
  // Bob has his own window; a subscription without a user has none; the
  // same user in an application without a cap is not held.
  await service.waitFor(() => service.received(bob.endpoint).length === 2 &&
    service.received(anonymous.endpoint).length === 5 && service.received(elsewhere.endpoint).length === 5, 10000);

  // webpush_trace and webpush.message_status show it.
  const traced = (await db.query(
    "SELECT state, reason FROM webpush_trace(for_user => 'ann', application => 'cap-drop') WHERE state = 'failed'")).rows;
  assert.equal(traced.length, 6);
  assert.ok(traced.every((r) => r.reason === 'frequency cap: 2 per 01:00:00 (dropped)'));
  const status = (await db.query(
    'SELECT sum(delivered)::int AS delivered, sum(failed)::int AS failed FROM webpush.message_status WHERE id = ANY ($1)',
    [annIds])).rows[0];
  assert.deepEqual(status, { delivered: 4, failed: 6 });

  // Counted: the six as dropped (and as failed), nothing deferred.
  const now = await until('the counters', async () => {
    const c = await counters('cap-drop');
    return c.dropped - before.dropped === 6 && c.delivered - before.delivered === 11 && c;
  });
  assert.equal(now.failed - before.failed, 6);
  assert.equal(now.deferred - before.deferred, 0);
  assert.equal((await counters('cap-none')).dropped, 0);
});

test('over a cap with defer: the third message waits, says why, and goes once the window has room, its TTL still counting', async () => {
  // 3 s, longer where everything is slower (valgrind, ASan).
  const window = 3 * SLOW;
  const windowText = new Date(window * 1000).toISOString().slice(11, 19);
  await db.query("SELECT webpush_application_frequency_cap('cap-defer', 2, make_interval(secs => $1))", [window]);
  assert.equal(await value("SELECT over_cap FROM webpush.applications WHERE name = 'cap-defer'"), 'defer');
  const dee = await subscriber('cap-defer', 'dee');
  const before = await counters('cap-defer');
  const sentAt = Date.now();
  const [, , third] = await sendAll([1, 2, 3].map((i) => [
    "SELECT message_id FROM webpush_send_user('dee', $1, ttl => 60, application => 'cap-defer')", [`dee ${i}`]]));

  await service.waitFor(() => service.received(dee.endpoint).length === 2, 5000);
  const waiting = await until('the deferred delivery', async () => (await db.query(
    `SELECT last_error, extract(epoch FROM next_attempt_at) * 1000 AS due FROM webpush.deliveries
     WHERE message_id = $1 AND claimed_by IS NULL AND last_error IS NOT NULL`, [third])).rows[0]);
  assert.equal(waiting.last_error, `frequency cap: 2 per ${windowText} (deferred until the window has room)`);
  assert.ok(Number(waiting.due) >= sentAt + window * 1000 - 100,
    `due when the window has room: ${Number(waiting.due) - sentAt} ms after the send`);
  const traced = (await db.query(
    "SELECT state, reason FROM webpush_trace(for_message => $1, application => 'cap-defer')", [third])).rows;
  assert.equal(traced.length, 1);
  assert.equal(traced[0].reason, waiting.last_error);
  assert.equal(Number(await value('SELECT queued FROM webpush.message_status WHERE id = $1', [third])), 1);

  await service.waitFor(() => service.received(dee.endpoint).length === 3, 15000);
  const [first, second, late] = service.received(dee.endpoint);
  assert.equal(late.payload.toString(), 'dee 3');
  const oldest = Math.min(first.receivedAt, second.receivedAt);
  assert.ok(late.receivedAt >= oldest + window * 1000 - 20,
    `not before the oldest of the two left the window: ${late.receivedAt - oldest} ms after it`);
  // A deferral keeps the TTL the sender gave, counted from the send.
  assert.ok(Number(late.headers.ttl) <= 60 - 2, `TTL ${late.headers.ttl} counts from the send`);
  await until('the third recorded as delivered', async () => Number(await value(
    "SELECT count(*) FROM webpush.history WHERE message_id = $1 AND outcome = 'delivered'", [third])) === 1);
  const c = await counters('cap-defer');
  assert.ok(c.deferred - before.deferred >= 1, 'counted as deferred');
  assert.equal(c.dropped - before.dropped, 0);
  assert.equal(c.failed - before.failed, 0);
});

test('urgency high is capped like any other notification, and clearing the cap lets everything through', async () => {
  await db.query("SELECT webpush_application_frequency_cap('cap-urgent', 1, '1 hour', 'drop')");
  const eve = await subscriber('cap-urgent', 'eve');
  const [normal, urgent] = await sendAll([
    ["SELECT message_id FROM webpush_send_user('eve', 'normal', application => 'cap-urgent')", []],
    ["SELECT message_id FROM webpush_send_user('eve', 'urgent', urgency => 'high', application => 'cap-urgent')", []],
  ]);
  await until('both recorded', async () => Number(await value(
    'SELECT count(*) FROM webpush.history WHERE message_id IN ($1, $2)', [normal, urgent])) === 2);
  const { rows } = await db.query(
    "SELECT outcome FROM webpush.history WHERE message_id IN ($1, $2) ORDER BY outcome", [normal, urgent]);
  assert.deepEqual(rows.map((r) => r.outcome), ['delivered', 'failed'], 'one of the two reaches eve');
  assert.equal(service.received(eve.endpoint).length, 1);

  await db.query("SELECT webpush_application_frequency_cap('cap-urgent', NULL, NULL)");
  const more = await sendAll([1, 2, 3].map((i) => [
    "SELECT message_id FROM webpush_send_user('eve', $1, application => 'cap-urgent')", [`more ${i}`]]));
  await service.waitFor(() => service.received(eve.endpoint).length === 4, 10000);
  await until('the three recorded', async () => Number(await value(
    'SELECT count(*) FROM webpush.history WHERE message_id = ANY ($1)', [more])) === 3);
  assert.equal(Number(await value(
    "SELECT count(*) FROM webpush.history WHERE message_id = ANY ($1) AND outcome = 'delivered'", [more])), 3);
});
