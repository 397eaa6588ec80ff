'use strict';
// Frequency caps with webpush.workers = 2: the deliveries each worker lets
// through under a cap and has not recorded yet are shared (in shared
// memory), so two workers claiming one user's messages at the same moment
// keep the cap between them, in drop mode and in defer mode; a worker that
// stops gives back what it held.  The setting is read at server start, so
// this file restarts the server (and restores it).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startService, restartWith, Session, installExtension, workerPids, SLOW } = require('./helpers');

let service;
const db = new Session();
const { until, value } = db;

before(async () => {
  service = await startService();
  // Small claims: one user's messages fall into many claims, which the two
  // workers make at the same moment.
  await restartWith(await db.connect(), { 'webpush.workers': 2, 'webpush.batch_size': 4 });
  await installExtension(db);
  await until('two workers', async () => (await workerPids(db)).length === 2);
});

after(async () => {
  await restartWith(db, { 'webpush.workers': null, 'webpush.batch_size': null });
  await db.end();
  await service.stop();
});

// A new subscription of the push service, stored for user (or none) in application.
async function subscriber(application, user) {
  const sub = service.subscribe();
  sub.id = await value('SELECT webpush_subscribe($1, $2, $3)', [sub, user, application]);
  return sub;
}

async function capCounters(application) {
  const { rows } = await db.query(
    `SELECT coalesce(sum(capped_dropped), 0)::int AS dropped, coalesce(sum(capped_deferred), 0)::int AS deferred
     FROM webpush.counters WHERE application = $1`, [application]);
  return rows[0];
}

// n messages to user in application, each followed by one to each of
// others (subscriptions without a user, so never capped): all in one
// transaction, so that both workers wake to the same queue and claim
// from it together.  The user's message ids, in order.
async function sendInterleaved(application, user, n, others, ttl = 3600) {
  await db.query('BEGIN');
  const ids = [];
  for (let i = 1; i <= n; i++) {
    ids.push(await value('SELECT message_id FROM webpush_send_user($1, $2, ttl => $3, application => $4)',
      [user, `${user} ${i}`, ttl, application]));
    for (const o of others) await db.query('SELECT webpush_send($1::bigint, $2)', [o.id, `other ${o.id} ${i}`]);
  }
  await db.query('COMMIT');
  return ids;
}

// Users of this run: a file run again on the same cluster starts afresh.
const run = Date.now();

const payloads = (sub) => service.received(sub.endpoint).map((m) => m.payload.toString()).sort();

test('two workers keep a cap of 3 with drop between them: 3 of 24 messages reach the user, on each device; 21 are dropped', async () => {
  await db.query("SELECT webpush_application('shared-drop', 'mailto:shared-drop@example.com')");
  await db.query("SELECT webpush_application_frequency_cap('shared-drop', 3, '1 hour', 'drop')");
  const ann = `ann ${run}`;
  const phone = await subscriber('shared-drop', ann);
  const laptop = await subscriber('shared-drop', ann);
  const others = [];
  for (let i = 0; i < 6; i++) others.push(await subscriber('shared-drop', null));
  const before = await capCounters('shared-drop');
  const first = service.messages.length;

  const ids = await sendInterleaved('shared-drop', ann, 24, others);
  await until('ann\'s 48 deliveries recorded', async () => Number(await value(
    'SELECT count(*) FROM webpush.history WHERE message_id = ANY ($1)', [ids])) === 48);
  const outcomes = (await db.query(
    `SELECT outcome, reason, count(*)::int AS n, count(DISTINCT message_id)::int AS messages
     FROM webpush.history WHERE message_id = ANY ($1) GROUP BY 1, 2 ORDER BY 1`, [ids])).rows;
  assert.deepEqual(outcomes, [
    { outcome: 'delivered', reason: null, n: 6, messages: 3 },
    { outcome: 'failed', reason: 'frequency cap: 3 per 01:00:00 (dropped)', n: 42, messages: 21 },
  ]);
  await service.waitFor(() => service.received(phone.endpoint).length === 3 &&
    service.received(laptop.endpoint).length === 3, 5000);
  assert.deepEqual(payloads(phone), payloads(laptop), 'both devices got the same three');
  await service.waitFor(() => others.every((o) => service.received(o.endpoint).length === 24), 20000);
  // Both workers sent in this burst, each over its own connection.
  const connections = new Set(service.messages.slice(first).map((m) => m.remotePort));
  console.log(`# 2 workers, cap 3 (drop): ${service.messages.length - first} sent over ${connections.size} connections`);
  assert.ok(connections.size >= 2, 'both workers sent');
  await until('the drops counted', async () =>
    (await capCounters('shared-drop')).dropped - before.dropped === 42);
});

test('two workers keep a cap of 4 with defer between them: no window has more than 4, and every message arrives once', async () => {
  const windowMs = 2000 * SLOW;
  const windowText = new Date(windowMs).toISOString().slice(11, 19);
  await db.query("SELECT webpush_application('shared-defer', 'mailto:shared-defer@example.com')");
  await db.query("SELECT webpush_application_frequency_cap('shared-defer', 4, make_interval(secs => $1), 'defer')",
    [windowMs / 1000]);
  const dee = await subscriber('shared-defer', `dee ${run}`);
  const others = [];
  for (let i = 0; i < 6; i++) others.push(await subscriber('shared-defer', null));
  const before = await capCounters('shared-defer');

  const ids = await sendInterleaved('shared-defer', `dee ${run}`, 16, others, 120);
  // Four now; the rest wait for the window, four at a time.
  const settled = await until('each delivery delivered or deferred', async () => {
    const { rows: [r] } = await db.query(
      `SELECT (SELECT count(*) FROM webpush.history WHERE message_id = ANY ($1) AND outcome = 'delivered')::int AS delivered,
              (SELECT count(*) FROM webpush.deliveries WHERE message_id = ANY ($1) AND claimed_by IS NULL
                 AND last_error LIKE 'frequency cap:%')::int AS deferred`, [ids]);
    return r.delivered + r.deferred === 16 && r;
  });
  assert.deepEqual(settled, { delivered: 4, deferred: 12 });
  const reasons = (await db.query(
    'SELECT DISTINCT last_error FROM webpush.deliveries WHERE message_id = ANY ($1)', [ids])).rows;
  assert.deepEqual(reasons, [{ last_error: `frequency cap: 4 per ${windowText} (deferred until the window has room)` }]);
  assert.equal(service.received(dee.endpoint).length, 4, 'no fifth while they wait');

  await service.waitFor(() => service.received(dee.endpoint).length === 16, 4 * windowMs + 10000);
  const arrived = service.received(dee.endpoint);
  assert.equal(new Set(arrived.map((m) => m.payload.toString())).size, 16, 'each message once');
  // Any span shorter than the window holds at most four arrivals (a
  // little under it: arrival times are the push service's, not the
  // history's).
  const times = arrived.map((m) => m.receivedAt).sort((a, b) => a - b);
  for (let i = 4; i < times.length; i++) {
    assert.ok(times[i] - times[i - 4] >= windowMs - 100,
      `arrivals ${i - 4} and ${i} only ${times[i] - times[i - 4]} ms apart: five within the window`);
  }
  await until('all sixteen recorded as delivered', async () => Number(await value(
    "SELECT count(*) FROM webpush.history WHERE message_id = ANY ($1) AND outcome = 'delivered'", [ids])) === 16);
  const c = await capCounters('shared-defer');
  assert.ok(c.deferred - before.deferred >= 12, `counted as deferred: ${c.deferred - before.deferred}`);
  assert.equal(c.dropped - before.dropped, 0);
});

test('a worker stopped while its delivery under a cap is in flight leaves nothing counting for the user', async () => {
  await db.query("SELECT webpush_application('shared-stop', 'mailto:shared-stop@example.com')");
  await db.query("SELECT webpush_application_frequency_cap('shared-stop', 1, '1 hour', 'drop')");
  const kim = await subscriber('shared-stop', `kim ${run}`);
  // The first request is never answered (its worker is stopped meanwhile);
  // the first message sent again then fails for good, so it does not count.
  let answered;
  const hung = new Promise((resolve) => { answered = resolve; });
  service.respond(kim.endpoint, { respondWith: () => hung }, { status: 400, body: 'refused' });
  const [stopped] = await sendInterleaved('shared-stop', `kim ${run}`, 1, []);
  await service.waitFor(() => service.received(kim.endpoint).length === 1, 5000);

  const pids = await workerPids(db);
  for (const pid of pids) await db.query('SELECT pg_terminate_backend($1)', [pid]);
  answered();
  await until('two new workers', async () => {
    const now = await workerPids(db);
    return now.length === 2 && now.every((p) => !pids.includes(p));
  }, 30000);
  await until('the first message sent again and failed', async () => (await db.query(
    "SELECT 1 FROM webpush.history WHERE message_id = $1 AND outcome = 'failed' AND status = 400", [stopped])).rows.length === 1);

  // Nothing of kim's was delivered: the next message fits under the cap.
  const [next] = await sendInterleaved('shared-stop', `kim ${run}`, 1, []);
  await until('the next message recorded', async () => (await db.query(
    'SELECT outcome, reason FROM webpush.history WHERE message_id = $1', [next])).rows[0]);
  const { rows } = await db.query('SELECT outcome, reason FROM webpush.history WHERE message_id = $1', [next]);
  assert.deepEqual(rows, [{ outcome: 'delivered', reason: null }]);
});
