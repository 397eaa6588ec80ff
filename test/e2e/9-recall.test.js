'use strict';
// A cancel after sending: a push service that answered a message with a
// Location (its push message resource, RFC 8030 §5) keeps it there until
// the browser takes it, and Mozilla's autopush lets the sender DELETE it
// meanwhile.  The worker keeps the Location in the history, webpush_cancel
// queues a DELETE for each copy whose TTL lasts (webpush.recalls), and the
// worker sends it, signed, and records the answer: 204 recalled, 404 the
// browser has it.  Other vendors name no resource (or FCM one it does not
// delete), and a Location on another origin is not kept.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { setUpFile, tearDownFile, createRole, connect, reloadWorker, Session } = require('./helpers');

let service;
const db = new Session();
const { until, value } = db;

before(async () => {
  service = await setUpFile(db);
});

after(() => tearDownFile(db, service));

// A subscription of the service (options as subscribe() takes them),
// stored in application (or the default): the object with its id.
async function subscriber(options, application = null) {
  const subscription = service.subscribe(options);
  const id = await value('SELECT webpush_subscribe($1, NULL, $2) AS id', [subscription, application]);
  return { ...subscription, id };
}

// The history row of a message once it is delivered.
async function delivered(messageId) {
  return until(`message ${messageId} delivered`, async () => {
    const { rows } = await db.query(
      "SELECT status, location, finished_at FROM webpush.history WHERE message_id = $1 AND outcome = 'delivered'",
      [messageId]);
    return rows[0];
  });
}

// The recall of a message once its answer is recorded.
async function recalled(messageId) {
  return until(`the recall of message ${messageId} answered`, async () => {
    const { rows } = await db.query(
      'SELECT outcome, status, reason, attempts, location FROM webpush.recalls WHERE message_id = $1 AND finished_at IS NOT NULL',
      [messageId]);
    return rows[0];
  });
}

const recallRows = async (messageId) =>
  Number(await value('SELECT count(*) FROM webpush.recalls WHERE message_id = $1', [messageId]));

const send = (sub, payload, ttl = 3600) =>
  value('SELECT webpush_send($1::bigint, $2, $3) AS id', [sub.id, payload, ttl]);

const deletesOf = (location) => service.deletes.filter((d) => location.endsWith(`/m/${d.id}`));

// A broadcast to n new subscriptions, every copy in flight: the push
// service answers each 201 with a Location once answer() is called.
async function broadcastInFlight(n, payload) {
  const subs = [];
  let answer;
  const answered = new Promise((resolve) => { answer = resolve; });
  for (let i = 0; i < n; i++) {
    const sub = await subscriber({ vendor: 'mozilla' });
    service.hold(sub.endpoint);
    service.respond(sub.endpoint, { status: 201, until: answered });
    subs.push(sub);
  }
  const id = await value('SELECT message_id FROM webpush_send_many($1::bigint[], $2, 3600)',
    [subs.map((s) => s.id), payload]);
  await until('every copy in flight', async () =>
    subs.every((s) => service.received(s.endpoint).length === 1));
  return { subs, id, answer };
}

// Another message delivered, cancelled and recalled: proof that the
// worker has looked for due recalls since what came before.
async function recallProbe() {
  const probe = await subscriber({ vendor: 'mozilla' });
  service.hold(probe.endpoint);
  const probeId = await send(probe, 'the probe');
  await delivered(probeId);
  assert.equal(Number(await value('SELECT webpush_cancel($1)', [probeId])), 1);
  assert.equal((await recalled(probeId)).status, 204);
}

test('an undelivered cancelled message gets its DELETE, signed, and never reaches the browser', async () => {
  const sub = await subscriber({ vendor: 'mozilla' });
  service.hold(sub.endpoint);
  const id = await send(sub, 'held at the push service');
  const row = await delivered(id);
  assert.equal(row.status, 201);
  assert.match(row.location, new RegExp(`^${service.origin}/m/\\d+$`), 'the Location is kept');

  assert.equal(Number(await value('SELECT webpush_cancel($1)', [id])), 1, 'one DELETE queued');
  const recall = await recalled(id);
  assert.equal(recall.outcome, 'recalled');
  assert.equal(recall.status, 204);
  assert.equal(recall.location, row.location);

  const deletes = deletesOf(row.location);
  assert.equal(deletes.length, 1, 'exactly one DELETE');
  assert.deepEqual(deletes[0].errors, []);
  assert.equal(deletes[0].status, 204);
  assert.equal(deletes[0].aud, service.origin, 'signed for the resource\'s origin');
  assert.equal(deletes[0].vapidKey, service.received(sub.endpoint)[0].vapidKey, 'with the key that sent it');

  // The browser comes online: the cancelled message is not among what it gets,
  // and what comes next still arrives.
  service.release(sub.endpoint);
  assert.equal(service.browser(sub.endpoint).length, 0);
  const next = await send(sub, 'after the recall');
  await delivered(next);
  assert.deepEqual(service.browser(sub.endpoint).map((m) => m.payload.toString()), ['after the recall']);
  // A second cancel queues nothing more.
  assert.equal(Number(await value('SELECT webpush_cancel($1)', [id])), 0);
  assert.equal(await recallRows(id), 1);
});

test('a message the browser has already gets a 404, recorded, and nothing else breaks', async () => {
  const sub = await subscriber({ vendor: 'mozilla' });
  const id = await send(sub, 'shown already');
  const row = await delivered(id);
  assert.ok(row.location);
  assert.equal(Number(await value('SELECT webpush_cancel($1)', [id])), 1);
  const recall = await recalled(id);
  assert.equal(recall.outcome, 'gone');
  assert.equal(recall.status, 404);
  assert.equal(recall.attempts, 1, 'a 404 is not tried again');
  assert.match(recall.reason, /^not held any more \(/, 'the message is gone, not the subscription');
  assert.equal(deletesOf(row.location).length, 1);
  assert.equal(service.browser(sub.endpoint).length, 1);
  assert.equal(Number(await value('SELECT count(*) FROM webpush.subscriptions WHERE id = $1', [sub.id])), 1,
    'a 404 to a DELETE removes no subscription');
  await delivered(await send(sub, 'and the next one'));
});

test('a cancel after the TTL ran out sends nothing', async () => {
  const sub = await subscriber({ vendor: 'mozilla' });
  service.hold(sub.endpoint);
  const id = await send(sub, 'short-lived', 1);
  const row = await delivered(id);
  assert.ok(row.location);
  await until('its TTL to run out', async () =>
    value("SELECT finished_at + interval '1 second' < now() FROM webpush.history WHERE message_id = $1", [id]));
  const before = service.deletes.length;
  assert.equal(Number(await value('SELECT webpush_cancel($1)', [id])), 0);
  assert.equal(await recallRows(id), 0);
  assert.equal(service.deletes.length, before);
});

test('other vendors: Apple and WNS name no resource, FCM one it does not delete', async () => {
  for (const vendor of ['apple', 'wns']) {
    const sub = await subscriber({ vendor });
    const id = await send(sub, `to ${vendor}`);
    assert.equal((await delivered(id)).location, null, `${vendor}: no Location kept`);
    assert.equal(Number(await value('SELECT webpush_cancel($1)', [id])), 0);
    assert.equal(await recallRows(id), 0, `${vendor}: nothing to DELETE`);
  }
  const fcm = await subscriber({ vendor: 'fcm' });
  const id = await send(fcm, 'to FCM');
  const row = await delivered(id);
  assert.match(row.location, /\/m\/fcm-\d+$/);
  assert.equal(Number(await value('SELECT webpush_cancel($1)', [id])), 1);
  const recall = await recalled(id);
  assert.deepEqual([recall.outcome, recall.status], ['gone', 404], 'FCM\'s answer recorded');
  await delivered(await send(fcm, 'FCM still gets the next one'));
});

test('a Location on another origin than the endpoint is not kept', async () => {
  const port = new URL(service.origin).port;
  const sub = await subscriber({ vendor: 'mozilla', locationOrigin: `https://127.0.0.1:${port}` });
  service.hold(sub.endpoint);
  const id = await send(sub, 'elsewhere');
  assert.equal((await delivered(id)).location, null);
  assert.equal(Number(await value('SELECT webpush_cancel($1)', [id])), 0);
  assert.equal(await recallRows(id), 0);
});

test('a Location that is not ASCII is not kept: its bytes would not be text of the database', async () => {
  // Latin-1 characters go on the wire as single bytes: C3 28 is not UTF-8,
  // E9 is not either, and neither belongs in a URL.
  for (const tail of ['\u00c3(', '\u00e9']) {
    const sub = await subscriber({});
    service.respond(sub.endpoint, {
      status: 201,
      respondWith: async (res) => {
        res.writeHead(201, { location: `${service.origin}/m/${tail}` });
        res.end();
      },
    });
    const id = await send(sub, 'a hostile Location');
    assert.equal((await delivered(id)).location, null);
    assert.equal(Number(await value('SELECT webpush_cancel($1)', [id])), 0);
  }
});

test('the address policy holds for a message resource: a loopback Location is not connected to once private addresses are off', async () => {
  const sub = await subscriber({ vendor: 'mozilla' });
  service.hold(sub.endpoint);
  const id = await send(sub, 'held, then out of reach');
  const row = await delivered(id);
  assert.ok(row.location);
  await db.query('ALTER SYSTEM SET webpush.allow_private_endpoints = off');
  try {
    await reloadWorker(db);
    assert.equal(Number(await value('SELECT webpush_cancel($1)', [id])), 1);
    const recall = await recalled(id);
    assert.equal(recall.outcome, 'failed');
    assert.match(recall.reason, /loopback/);
    assert.equal(deletesOf(row.location).length, 0, 'no DELETE arrived');
  } finally {
    await db.query('ALTER SYSTEM RESET webpush.allow_private_endpoints');
    await reloadWorker(db);
  }
});

test('a message held at the push service is recalled after the application removed its subscription: signed with the key the history kept', async () => {
  const sub = await subscriber({ vendor: 'mozilla' });
  await db.query('SELECT webpush_subscribe($1, $2)', [{ endpoint: sub.endpoint, keys: sub.keys }, 'logged-out']);
  service.hold(sub.endpoint);
  const id = await send(sub, 'held, then the user logs out');
  await delivered(id);
  // A log-out on the server: the browser is still subscribed, and would
  // get what the push service holds for it.
  await db.query("SELECT webpush_unsubscribe_user('logged-out')");
  assert.equal(Number(await value('SELECT webpush_cancel($1)', [id])), 1, 'a DELETE is queued');
  const recall = await recalled(id);
  service.release(sub.endpoint);
  assert.deepEqual([recall.outcome, recall.status], ['recalled', 204]);
  assert.equal(service.browser(sub.endpoint).length, 0, 'the cancelled message never reaches the browser');
});

test('a cancel rolled back queues nothing', async () => {
  const sub = await subscriber({ vendor: 'mozilla' });
  service.hold(sub.endpoint);
  const id = await send(sub, 'kept');
  await delivered(id);
  await db.query('BEGIN');
  assert.equal(Number(await value('SELECT webpush_cancel($1)', [id])), 1);
  assert.equal(await recallRows(id), 1, 'queued in the transaction');
  await db.query('ROLLBACK');
  assert.equal(await recallRows(id), 0);
});

test('a sender of another application can neither cancel nor see the recall, nor read the Location', async () => {
  await db.query("SELECT webpush_application('recall_shop', 'mailto:shop@example.com')");
  await createRole(db, 'recall_owner', ['webpush_sender']);
  await createRole(db, 'recall_other', ['webpush_sender']);
  await db.query("SELECT webpush_application_grant('recall_shop', 'recall_owner')");
  const sub = await subscriber({ vendor: 'mozilla' }, 'recall_shop');
  service.hold(sub.endpoint);
  const id = await send(sub, 'the shop\'s');
  await delivered(id);

  const other = await connect();
  try {
    await other.query('SET ROLE recall_other');
    await assert.rejects(other.query('SELECT webpush_cancel($1)', [id]), /does not exist/);
    await assert.rejects(other.query('SELECT message_id FROM webpush.recalls'), /permission denied/);
    await assert.rejects(other.query('SELECT location FROM webpush.history'), /permission denied/);
    await other.query('SET ROLE webpush_monitor');
    await assert.rejects(other.query('SELECT location FROM webpush.recalls'), /permission denied/,
      'the monitor sees recalls but not where they go');
    await assert.rejects(other.query('SELECT location FROM webpush.history'), /permission denied/);
  } finally {
    await other.end();
  }
  assert.equal(await recallRows(id), 0);

  const owner = await connect();
  try {
    await owner.query('SET ROLE recall_owner');
    assert.equal(Number((await owner.query('SELECT webpush_cancel($1) AS n', [id])).rows[0].n), 1);
  } finally {
    await owner.end();
  }
  assert.equal((await recalled(id)).status, 204);
});

test('a copy in flight when cancelled and answered with an error that is retried is recorded as cancelled at its retry, never sent again', async () => {
  const sub = await subscriber({});
  let answer;
  const answered = new Promise((resolve) => { answer = resolve; });
  service.respond(sub.endpoint, {
    respondWith: async (res) => {
      await answered;
      res.writeHead(503, { 'retry-after': '1' });
      res.end('busy');
    },
  });
  const id = await send(sub, 'in flight');
  await until('the copy in flight', async () => service.received(sub.endpoint).length === 1);
  // Nothing waits: the one delivery is in flight.
  assert.equal(Number(await value('SELECT webpush_cancel($1::bigint)', [id])), 0);
  assert.ok(await value('SELECT cancelled_at IS NOT NULL FROM webpush.messages WHERE id = $1', [id]));
  const counted = 'SELECT coalesce(sum(cancelled), 0)::int FROM webpush.counters WHERE application = \'default\'';
  const before = Number(await value(counted));
  answer();
  const { rows } = await until('its outcome recorded', async () => {
    const r = await db.query('SELECT outcome, reason, attempts FROM webpush.history WHERE message_id = $1', [id]);
    return r.rows.length > 0 && r;
  });
  assert.deepEqual(rows, [{ outcome: 'cancelled', reason: 'cancelled with webpush_cancel()', attempts: 1 }]);
  assert.equal(Number(await value('SELECT count(*) FROM webpush.deliveries WHERE message_id = $1', [id])), 0);
  assert.equal(service.received(sub.endpoint).length, 1, 'sent once, not again after the cancel');
  await until('counted as cancelled', async () => Number(await value(counted)) === before + 1);
});

test('a copy in flight when cancelled and delivered with a Location gets its DELETE once its answer is recorded', async () => {
  const sub = await subscriber({ vendor: 'mozilla' });
  service.hold(sub.endpoint);
  let answer;
  service.respond(sub.endpoint, { status: 201, until: new Promise((resolve) => { answer = resolve; }) });
  const id = await send(sub, 'in flight, then held');
  await until('the copy in flight', async () => service.received(sub.endpoint).length === 1);
  assert.equal(Number(await value('SELECT webpush_cancel($1::bigint)', [id])), 0, 'nothing to cancel or recall yet');
  answer();
  const row = await delivered(id);
  const recall = await recalled(id);
  assert.equal(recall.outcome, 'recalled');
  assert.equal(recall.location, row.location);
  assert.equal(deletesOf(row.location).length, 1, 'exactly one DELETE');
  service.release(sub.endpoint);
  assert.equal(service.browser(sub.endpoint).length, 0, 'the browser never gets it');
  // A second cancel queues nothing more.
  assert.equal(Number(await value('SELECT webpush_cancel($1)', [id])), 0);
  assert.equal(await recallRows(id), 1);
});

test('copies answered with a Location while the cancel\'s transaction is open each get one DELETE, sent only after its COMMIT', async () => {
  const n = 20;
  const { subs, id, answer } = await broadcastInFlight(n, 'broadcast, then cancelled');

  const app = await connect();
  try {
    await app.query('BEGIN');
    assert.equal(Number((await app.query('SELECT webpush_cancel($1::bigint) AS n', [id])).rows[0].n), 0,
      'nothing waits and nothing was delivered yet');
    // The worker records each answer while the cancel holds the message.
    answer();
    await until('every copy recorded', async () => Number(await value(
      "SELECT count(*) FROM webpush.history WHERE message_id = $1 AND outcome = 'delivered' AND location IS NOT NULL",
      [id])) === n);
    // Their DELETEs are queued, each once, and not sent while the cancel
    // may yet roll back, though the worker has looked for due recalls
    // since: it sent another message's, queued after them.
    const { rows: queued } = await db.query(
      'SELECT count(*)::int AS n, max(attempts) AS attempts FROM webpush.recalls WHERE message_id = $1', [id]);
    assert.deepEqual(queued, [{ n, attempts: 0 }]);
    await recallProbe();
    const { rows: locations } = await db.query(
      'SELECT location FROM webpush.history WHERE message_id = $1', [id]);
    assert.equal(locations.flatMap((r) => deletesOf(r.location)).length, 0, 'no DELETE before the COMMIT');
    await app.query('COMMIT');
  } finally {
    await app.end();
  }
  const recalls = await until('every recall answered', async () => {
    const { rows } = await db.query(
      'SELECT outcome, status FROM webpush.recalls WHERE message_id = $1 AND finished_at IS NOT NULL', [id]);
    return rows.length === n && rows;
  });
  assert.deepEqual(new Set(recalls.map((r) => `${r.outcome} ${r.status}`)), new Set(['recalled 204']));
  for (const s of subs) {
    service.release(s.endpoint);
    assert.equal(service.browser(s.endpoint).length, 0, 'the cancelled message never reaches the browser');
  }
});

test('copies answered with a Location while the cancel\'s transaction is open get no DELETE when it rolls back, and their waiting recalls go at once', async () => {
  const n = 5;
  const { subs, id, answer } = await broadcastInFlight(n, 'broadcast, cancel rolled back');

  const app = await connect();
  try {
    await app.query('BEGIN');
    await app.query('SELECT webpush_cancel($1::bigint)', [id]);
    answer();
    await until('every copy recorded', async () => Number(await value(
      "SELECT count(*) FROM webpush.history WHERE message_id = $1 AND outcome = 'delivered' AND location IS NOT NULL",
      [id])) === n);
    // The worker could not tell whether the cancel would commit: a recall
    // waits for each copy.  It has looked at its recalls since, and will
    // not look again of its own accord for a minute: it sent another
    // message's, queued after them.
    assert.equal(await recallRows(id), n);
    await recallProbe();
    assert.equal(await recallRows(id), n);
    await app.query('ROLLBACK');
  } finally {
    await app.end();
  }
  // The ROLLBACK wakes the worker, which drops them: not at its next
  // minute's maintenance.
  await until('the waiting recalls dropped', async () => await recallRows(id) === 0, 3000);
  const { rows: locations } = await db.query(
    'SELECT location FROM webpush.history WHERE message_id = $1', [id]);
  assert.equal(locations.flatMap((r) => deletesOf(r.location)).length, 0, 'no DELETE');
  for (const s of subs) {
    service.release(s.endpoint);
    assert.equal(service.browser(s.endpoint).length, 1, 'the message reaches the browser');
  }
});
