'use strict';
// Messages stored once: scheduled sends on time, cancellation before and
// during a drain, per-message status against what the push service
// received, dedupe keys, re-subscription and moves while messages wait, and
// webpush_send_now in the history.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { setUpFile, tearDownFile, SLOW, Session, storeSubscription } = require('./helpers');

let service;
const db = new Session();
const { until, value } = db;
const subscribe = (sub, user) => storeSubscription(db, sub, user);

before(async () => {
  service = await setUpFile(db);
});

after(() => tearDownFile(db, service));

test('scheduled messages arrive at their send_at, not before, and the TTL counts from it', async () => {
  const sub = service.subscribe();
  const id = await subscribe(sub);
  const base = Date.now() + 1500;
  const n = 10;
  // Queued in reverse order: the earliest send_at goes first all the same.
  for (let i = n - 1; i >= 0; i--) {
    await db.query("SELECT webpush_send($1::bigint, $2::text, ttl => 60, send_at => to_timestamp($3 / 1000.0))",
      [id, `at ${i}`, base + i * 100]);
  }
  assert.equal(Number(await value('SELECT scheduled FROM webpush.status')), n);
  await service.waitFor(() => service.received(sub.endpoint).length === n, 10000);
  const late = service.received(sub.endpoint).map((m) => {
    const i = Number(m.payload.toString().split(' ')[1]);
    assert.ok(Number(m.headers.ttl) <= 60 && Number(m.headers.ttl) >= 58, `TTL ${m.headers.ttl} counts from send_at`);
    return m.receivedAt - (base + i * 100);
  });
  console.log(`# scheduled: arrival minus send_at ${Math.min(...late)}..${Math.max(...late)} ms`);
  assert.ok(late.every((ms) => ms >= -5), `none early: ${late}`);
  assert.ok(late.every((ms) => ms <= 200 * SLOW), `each within 200 ms: ${late}`);
});

test('cancel before a drain takes everything; during a drain, what is not in flight', async () => {
  const subs = [];
  // More than the worker keeps in flight (webpush.max_in_flight, 200).
  for (let i = 0; i < 600; i++) {
    const s = service.subscribe();
    subs.push({ ...s, id: await subscribe(s) });
  }
  const ids = subs.map((s) => s.id);

  // Scheduled an hour ahead, cancelled before it is due: nothing arrives.
  const later = await value("SELECT message_id FROM webpush_send_many($1, 'never', send_at => now() + interval '1 hour')", [ids]);
  assert.equal(Number(await value('SELECT webpush_cancel($1)', [later])), 600);

  // A slow push service: the drain takes a while, and is cancelled in it.
  for (const s of subs) service.respond(s.endpoint, { status: 201, delayMs: 200 });
  const first = service.messages.length;
  const msg = await value("SELECT message_id FROM webpush_send_many($1, 'drain')", [ids]);
  await until('some delivered', async () => Number(await value(
    'SELECT delivered FROM webpush.message_status WHERE id = $1', [msg])) >= 20);
  const cancelled = Number(await value('SELECT webpush_cancel($1)', [msg]));
  await until('nothing left of the message', async () => Number(await value(
    'SELECT queued + sending FROM webpush.message_status WHERE id = $1', [msg])) === 0, 30000);
  const status = (await db.query('SELECT * FROM webpush.message_status WHERE id = $1', [msg])).rows[0];
  const arrived = service.messages.slice(first).filter((m) => m.payload && m.payload.toString() === 'drain');
  console.log(`# cancel during a drain of 600: ${status.delivered} delivered, ${cancelled} cancelled`);
  assert.ok(cancelled > 0 && cancelled < 600, `cancelled ${cancelled}`);
  assert.equal(Number(status.delivered) + Number(status.cancelled), 600);
  assert.equal(Number(status.cancelled), cancelled);
  assert.equal(arrived.length, Number(status.delivered), 'the status matches what the push service received');
  assert.equal(service.messages.slice(first).filter((m) => m.payload && m.payload.toString() === 'never').length, 0);
  assert.ok(status.first_delivered_at <= status.last_delivered_at);
});

test('a dedupe key queues once, and the second send gets the first message id', async () => {
  const sub = service.subscribe();
  await subscribe(sub, 'dedupe-user');
  await db.query('BEGIN');
  const a = (await db.query("SELECT * FROM webpush_send_user('dedupe-user', 'once', dedupe_key => 'order-1-shipped')")).rows[0];
  const b = (await db.query("SELECT * FROM webpush_send_user('dedupe-user', 'twice', dedupe_key => 'order-1-shipped')")).rows[0];
  await db.query('COMMIT');
  assert.equal(b.message_id, a.message_id);
  await service.waitFor(() => service.received(sub.endpoint).length === 1);
  // After the first was sent, still the same message: it is kept.
  const c = (await db.query("SELECT * FROM webpush_send_user('dedupe-user', 'thrice', dedupe_key => 'order-1-shipped')")).rows[0];
  assert.equal(c.message_id, a.message_id);
  await until('delivered', async () => Number(await value(
    'SELECT delivered FROM webpush.message_status WHERE id = $1', [a.message_id])) === 1);
  assert.deepEqual(service.received(sub.endpoint).map((m) => m.payload.toString()), ['once']);
});

test('a re-subscription with new keys while a message waits: it arrives readable with the new keys', async () => {
  const sub = service.subscribe();
  const id = await subscribe(sub);
  await db.query("SELECT webpush_send($1::bigint, 'for the new keys'::text, send_at => now() + interval '1 second')", [id]);
  // The browser subscribes again under the same endpoint with new keys.
  const stored = service.subscriptions.get(sub.endpoint.split('/').pop());
  stored.ecdh = crypto.createECDH('prime256v1');
  stored.ecdh.generateKeys();
  stored.auth = crypto.randomBytes(16);
  const renewed = {
    ...sub,
    keys: { p256dh: stored.ecdh.getPublicKey().toString('base64url'), auth: stored.auth.toString('base64url') },
  };
  assert.equal(await subscribe(renewed), id, 'the same subscription');
  await service.waitFor(() => service.received(sub.endpoint).length === 1, 10000);
  const [m] = service.received(sub.endpoint);
  assert.deepEqual(m.errors, [], 'decrypted with the new keys');
  assert.equal(m.payload.toString(), 'for the new keys');
});

test('a move to a new endpoint while a message waits: it arrives at the new one', async () => {
  const oldSub = service.subscribe();
  const id = await subscribe(oldSub, 'mover');
  await db.query("SELECT webpush_send_user('mover', 'after the move', send_at => now() + interval '1 second')");
  const newSub = service.subscribe();
  assert.equal(await value('SELECT webpush_subscribe($1, $2, old_endpoint => $3) AS id',
    [newSub, 'mover', oldSub.endpoint]), id, 'the subscription keeps its id');
  await service.waitFor(() => service.received(newSub.endpoint).length === 1, 10000);
  assert.equal(service.received(newSub.endpoint)[0].payload.toString(), 'after the move');
  assert.equal(service.received(oldSub.endpoint).length, 0);
});

// A browser whose new endpoint was stored as a subscription of its own
// before the pushsubscriptionchange that names the old one: the move merges
// the two rows, and a message both were to get reaches the browser once.
// script(oldSub, newSub) scripts the two endpoints' answers; ready(msg, ids)
// waits for the moment of the move.
async function mergeWhileSending(label, script, ready) {
  const oldSub = service.subscribe();
  const newSub = service.subscribe();
  const oldId = Number(await subscribe(oldSub, label));
  const newId = Number(await subscribe(newSub, label));
  script(oldSub, newSub);
  const msg = await value('SELECT message_id FROM webpush_send_many($1::bigint[], $2)', [[oldId, newId], label]);
  await ready(msg, { oldId, newId, oldSub, newSub });
  assert.equal(Number(await value('SELECT webpush_subscribe($1, $2, old_endpoint => $3) AS id',
    [newSub, label, oldSub.endpoint])), oldId, 'the old row keeps its id');
  await until(`${label}: the message settled`, async () =>
    (await db.query('SELECT FROM webpush.deliveries WHERE message_id = $1', [msg])).rowCount === 0, 15000 * SLOW);
  const { rows } = await db.query(
    'SELECT subscription_id, outcome, status, reason FROM webpush.history WHERE message_id = $1 ORDER BY outcome', [msg]);
  const delivered = service.received(newSub.endpoint).filter((m) => m.status === 201)
    .concat(service.received(oldSub.endpoint).filter((m) => m.status === 201));
  assert.equal(delivered.length, 1, 'the browser got it once');
  return { rows: rows.map((r) => [Number(r.subscription_id), r.outcome, r.status, r.reason]), oldId, newId };
}

const waitsForRetry = (id) => async (msg) => until('a retry waits', async () => (await db.query(
  'SELECT FROM webpush.deliveries WHERE message_id = $1 AND subscription_id = $2 AND next_attempt_at IS NOT NULL',
  [msg, id])).rowCount === 1, 10000 * SLOW);

test('a merge while the new row\'s delivery is in flight cancels the old row\'s waiting retry', async () => {
  let oldId;
  const { rows, newId } = await mergeWhileSending('merge-1', (o, n) => {
    service.respond(o.endpoint, { status: 503, headers: { 'retry-after': '3600' } });
    service.respond(n.endpoint, { status: 201, delayMs: 1500 * SLOW });
  }, async (msg, ids) => {
    oldId = ids.oldId;
    await service.waitFor(() => service.received(ids.newSub.endpoint).length === 1, 10000);
    await waitsForRetry(ids.oldId)(msg);
  });
  assert.deepEqual(rows.map((r) => r.slice(0, 2)), [[oldId, 'cancelled'], [newId, 'delivered']]);
  assert.match(rows[0][3], new RegExp(`subscription ${newId} of the same browser gets it`));
});

test('a merge while the old row\'s delivery is in flight to its dead endpoint: the 410 sends it again to the new one', async () => {
  let newId;
  const { rows, oldId } = await mergeWhileSending('merge-2', (o, n) => {
    service.respond(o.endpoint, { status: 410, body: 'gone', delayMs: 1500 * SLOW });
    service.respond(n.endpoint, { status: 503, headers: { 'retry-after': '3600' } });
  }, async (msg, ids) => {
    newId = ids.newId;
    await service.waitFor(() => service.received(ids.oldSub.endpoint).length === 1, 10000);
    await waitsForRetry(ids.newId)(msg);
  });
  assert.deepEqual(rows.map((r) => r.slice(0, 3)), [[newId, 'cancelled', null], [oldId, 'delivered', 201]]);
  assert.equal(await value('SELECT count(*) AS n FROM webpush.subscriptions WHERE id = $1', [oldId]), '1',
    'the 410 of the old endpoint removed nothing');
});

test('a merge while the new row\'s delivery is in flight and then retried: the retry follows the merged subscription', async () => {
  let newId;
  const { rows, oldId } = await mergeWhileSending('merge-4', (o, n) => {
    service.respond(o.endpoint, { status: 503, headers: { 'retry-after': '3600' } });
    service.respond(n.endpoint, { status: 503, headers: { 'retry-after': '1' }, delayMs: 1500 * SLOW });
  }, async (msg, ids) => {
    newId = ids.newId;
    await service.waitFor(() => service.received(ids.newSub.endpoint).length === 1, 10000);
    await waitsForRetry(ids.oldId)(msg);
  });
  assert.deepEqual(rows.map((r) => r.slice(0, 3)), [[oldId, 'cancelled', null], [oldId, 'delivered', 201]]);
  assert.match(rows[0][3], new RegExp(`subscription ${newId} of the same browser gets it`));
});

test('a merge while both rows\' deliveries are in flight: the old endpoint\'s 410 does not send it again', async () => {
  const { rows, oldId, newId } = await mergeWhileSending('merge-5', (o, n) => {
    service.respond(o.endpoint, { status: 410, body: 'gone', delayMs: 1500 * SLOW });
    service.respond(n.endpoint, { status: 201, delayMs: 2500 * SLOW });
  }, async (msg, ids) => {
    await service.waitFor(() => service.received(ids.oldSub.endpoint).length === 1 &&
      service.received(ids.newSub.endpoint).length === 1, 10000);
  });
  assert.deepEqual(rows.map((r) => r.slice(0, 3)), [[newId, 'delivered', 201], [oldId, 'failed', 410]]);
});

test('a merge while both are in flight: a retry of the newer row is cancelled when the old endpoint delivered', async () => {
  const { rows, oldId, newId } = await mergeWhileSending('merge-6', (o, n) => {
    service.respond(o.endpoint, { status: 201, delayMs: 1500 * SLOW });
    service.respond(n.endpoint, { status: 503, delayMs: 2500 * SLOW });
  }, async (msg, ids) => {
    await service.waitFor(() => service.received(ids.oldSub.endpoint).length === 1 &&
      service.received(ids.newSub.endpoint).length === 1, 10000);
  });
  assert.deepEqual(rows.map((r) => r.slice(0, 2)), [[newId, 'cancelled'], [oldId, 'delivered']]);
  assert.match(rows[0][3], new RegExp(`subscription ${oldId} of the same browser gets it`));
});

test('a merge after the new row delivered cancels the old row\'s waiting retry', async () => {
  let oldId;
  const { rows, newId } = await mergeWhileSending('merge-3', (o) => {
    service.respond(o.endpoint, { status: 503, headers: { 'retry-after': '3600' } });
  }, async (msg, ids) => {
    oldId = ids.oldId;
    await until('delivered to the new endpoint', async () => (await db.query(
      'SELECT FROM webpush.history WHERE message_id = $1 AND subscription_id = $2', [msg, ids.newId])).rowCount === 1,
    10000 * SLOW);
    await waitsForRetry(ids.oldId)(msg);
  });
  assert.deepEqual(rows.map((r) => r.slice(0, 2)), [[oldId, 'cancelled'], [newId, 'delivered']]);
});

test('webpush_send_now is recorded in the history under a message of its own', async () => {
  const sub = service.subscribe();
  const id = await subscribe(sub);
  service.respond(sub.endpoint, { status: 201 }, { status: 410, body: 'gone' });
  assert.equal((await db.query('SELECT * FROM webpush_send_now($1::bigint, $2)', [id, 'now'])).rows[0].status, 201);
  const notices = [];
  db.on('notice', (n) => notices.push(n.message));
  assert.equal((await db.query('SELECT * FROM webpush_send_now($1::bigint, $2)', [id, 'gone'])).rows[0].status, 410);
  db.removeAllListeners('notice');
  assert.ok(notices.some((n) => /was removed/.test(n)));
  const { rows } = await db.query(
    `SELECT h.outcome, h.status, h.reason, m.recipients FROM webpush.history h
     JOIN webpush.messages m ON m.id = h.message_id WHERE h.subscription_id = $1 ORDER BY h.finished_at`, [id]);
  assert.deepEqual(rows.map((r) => [r.outcome, r.status, r.recipients]), [['delivered', 201, 1], ['failed', 410, 1]]);
  assert.match(rows[1].reason, /subscription gone: HTTP 410: gone/);
});

// The worker takes in, claims and records with the statements of src/queue/claim.c and record.c, and
// the sends store their rows through the executor's insert helpers
// (src/queue/insert.c), which take a statement for a table of another shape.
// A column a DBA adds to webpush.deliveries must leave the same rows.
test('take-in, claim and record leave the same rows with or without a column a DBA added', async () => {
  const drain = async (label) => {
    const subs = [service.subscribe(), service.subscribe(), service.subscribe()];
    const ids = [];
    for (const s of subs) ids.push(await subscribe(s, `${label} user`));
    service.respond(subs[2].endpoint, { status: 400, body: 'bad request' });
    const msg = await value('SELECT message_id FROM webpush_send_many($1, $2)', [ids, label]);
    await until(`${label}: all three recorded`, async () =>
      Number(await value('SELECT count(*) FROM webpush.history WHERE message_id = $1', [msg])) === 3);
    assert.equal(Number(await value('SELECT count(*) FROM webpush.deliveries WHERE message_id = $1', [msg])), 0);
    const { rows } = await db.query(
      `SELECT h.subscription_id::text AS id, h.endpoint, h.outcome, h.status, h.attempts, h.reason,
              h.created_at = m.created_at AS created, h.finished_at >= m.created_at AS finished
       FROM webpush.history h JOIN webpush.messages m ON m.id = h.message_id
       WHERE h.message_id = $1 ORDER BY h.subscription_id`, [msg]);
    assert.deepEqual(rows.map((r) => [r.id, r.endpoint, r.outcome, r.status, r.attempts, r.created, r.finished]), [
      [String(ids[0]), subs[0].endpoint, 'delivered', 201, 1, true, true],
      [String(ids[1]), subs[1].endpoint, 'delivered', 201, 1, true, true],
      [String(ids[2]), subs[2].endpoint, 'failed', 400, 1, true, true],
    ], label);
    assert.equal(rows[0].reason, null);
    assert.match(rows[2].reason, /HTTP 400: bad request/);
    for (const s of subs) assert.deepEqual(service.received(s.endpoint).map((m) => m.payload.toString()), [label]);

    // A row as webpush_notify() stores it: the worker makes the message,
    // with that id, for the user's three subscriptions, and sends it.  A
    // send to another subscription in the same transaction wakes the
    // worker at COMMIT, as the trigger's own wake-up does.
    const waker = await subscribe(service.subscribe());
    await db.query('BEGIN');
    const taken = await value(`INSERT INTO webpush.intake (id, application, user_id, payload, ttl, urgency, queued_at)
      VALUES (nextval(pg_get_serial_sequence('webpush.messages', 'id')), 'default', $1, convert_to($2, 'UTF8'),
              60, 'high', now() - interval '10 seconds') RETURNING id`, [`${label} user`, `${label}, taken in`]);
    await db.query("SELECT webpush_send($1::bigint, 'wake up'::text)", [waker]);
    await db.query('COMMIT');
    await until(`${label}: the intake row's message recorded`, async () =>
      Number(await value('SELECT count(*) FROM webpush.history WHERE message_id = $1', [taken])) === 3);
    const { rows: [m] } = await db.query(`SELECT recipients, urgency, ttl, extract(epoch FROM expires_at - send_at)::int AS life,
      send_at = created_at AS sent_from_queueing, now() - created_at >= interval '10 seconds' AS queued_then
      FROM webpush.messages WHERE id = $1`, [taken]);
    assert.deepEqual([m.recipients, m.urgency, m.ttl, m.life, m.sent_from_queueing, m.queued_then],
      [3, 'high', 60, 60, true, true], label);
    assert.equal(Number(await value('SELECT count(*) FROM webpush.intake WHERE id = $1', [taken])), 0);
    for (const s of subs.slice(0, 2)) {
      const got = service.received(s.endpoint);
      assert.equal(got.length, 2);
      assert.equal(got[1].payload.toString(), `${label}, taken in`);
      assert.equal(got[1].headers.urgency, 'high');
      assert.ok(Number(got[1].headers.ttl) <= 50, `the TTL counts from the INSERT: ${got[1].headers.ttl}`);
    }
  };
  await drain('as installed');
  await db.query('ALTER TABLE webpush.deliveries ADD COLUMN note text');
  try {
    await drain('with a column added');
  } finally {
    await db.query('ALTER TABLE webpush.deliveries DROP COLUMN note');
  }
  await drain('as installed again');
});
