'use strict';
// Applications and keys, against a push service that binds each
// subscription to the first VAPID key that signs for it (or the key it was
// made with) and answers 403 to any other, as FCM does:
//   - two applications in one database, each with its own key and subject;
//   - a rotation: old and new subscriptions both deliver;
//   - export, DROP EXTENSION, CREATE EXTENSION, import: delivery resumes;
//   - with webpush.database_name empty, CREATE EXTENSION in a new database
//     gets a worker with no restart, DROP DATABASE stops it, and an update
//     from 0.2 delivers what 0.2 queued;
//   - workers that don't fit in max_worker_processes say which setting to raise.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  setUpFile, tearDownFile, connect, restartWith, Session, workerPids, recreateDatabase, serverLog,
} = require('./helpers');

let service;
const db = new Session();
const { until } = db;

// Send to each subscription (by id) and wait until each message has arrived.
async function deliverTo(conn, subs, text) {
  for (const s of subs) await conn.query('SELECT webpush_send($1::bigint, $2::text)', [s.id, `${text} ${s.id}`]);
  const find = () => subs.map((s) => service.messages.find((m) => m.payload && m.payload.toString() === `${text} ${s.id}`));
  await until(`${subs.length} messages`, async () => find().every(Boolean), 20000);
  return find();
}

before(async () => {
  service = await setUpFile(db);
});

after(() => tearDownFile(db, service));

test('two applications in one database deliver with their own keys and subjects', async () => {
  const defaultKey = (await db.query('SELECT webpush_keys() AS k')).rows[0].k;
  const shopKey = (await db.query(
    "SELECT webpush_application('shop', 'mailto:shop@example.com') AS k")).rows[0].k;
  assert.notEqual(shopKey, defaultKey);

  const a = service.subscribe({ applicationServerKey: defaultKey });
  const b = service.subscribe({ applicationServerKey: shopKey });
  const subs = [
    { id: (await db.query('SELECT webpush_subscribe($1) AS id', [a])).rows[0].id, key: defaultKey, sub: 'mailto:ops@example.com' },
    { id: (await db.query('SELECT webpush_subscribe($1, server_key => $2) AS id', [b, shopKey])).rows[0].id, key: shopKey, sub: 'mailto:shop@example.com' },
  ];
  const got = await deliverTo(db, subs, 'two sites');
  got.forEach((m, i) => {
    assert.deepEqual(m.errors, []);
    assert.equal(m.status, 201, 'accepted: signed with the key the subscription was made with');
    assert.equal(m.vapidKey, subs[i].key);
    assert.equal(m.claims.sub, subs[i].sub);
  });
});

test('after a rotation old and new subscriptions both deliver', async () => {
  const oldKey = (await db.query("SELECT webpush_keys('shop') AS k")).rows[0].k;
  const before = service.subscribe({ applicationServerKey: oldKey });
  const beforeId = (await db.query('SELECT webpush_subscribe($1, application => $2) AS id', [before, 'shop'])).rows[0].id;

  // Queued before the rotation, sent after it: still with the old key.
  await db.query('BEGIN');
  await db.query("SELECT webpush_send($1::bigint, 'queued across the rotation'::text)", [beforeId]);
  const newKey = (await db.query("SELECT webpush_keys_rotate('shop') AS k")).rows[0].k;
  await db.query('COMMIT');
  assert.notEqual(newKey, oldKey);

  const afterSub = service.subscribe({ applicationServerKey: newKey });
  const afterId = (await db.query('SELECT webpush_subscribe($1, application => $2) AS id', [afterSub, 'shop'])).rows[0].id;

  const got = await deliverTo(db, [{ id: beforeId }, { id: afterId }], 'rotated');
  assert.equal(got[0].vapidKey, oldKey);
  assert.equal(got[1].vapidKey, newKey);
  const across = await until('the message queued across the rotation', async () =>
    service.received(before.endpoint).find((m) => m.payload.toString() === 'queued across the rotation'));
  assert.equal(across.vapidKey, oldKey);
  const statuses = service.messages.filter((m) => [before.endpoint, afterSub.endpoint].some((e) => e.endsWith(`/${m.subscription}`)))
    .map((m) => m.status);
  assert.ok(statuses.length >= 3 && statuses.every((s) => s === 201), `no 403: ${statuses}`);

  const { rows } = await db.query(
    "SELECT public_key, current, subscriptions FROM webpush.keys WHERE application = 'shop' ORDER BY created_at");
  assert.deepEqual(rows.map((r) => [r.public_key, r.current]), [[oldKey, false], [newKey, true]]);
});

test('export, DROP EXTENSION, CREATE EXTENSION, import: delivery to re-stored subscriptions resumes', async () => {
  const key = (await db.query('SELECT webpush_keys() AS k')).rows[0].k;
  const s = service.subscribe({ applicationServerKey: key });
  await db.query('SELECT webpush_subscribe($1)', [s]);
  const exported = (await db.query(
    "SELECT private_key FROM webpush_keys_export('default') WHERE current")).rows[0].private_key;

  // The drop warns, with the numbers, before it deletes anything.
  const notices = [];
  db.on('notice', (n) => notices.push(n));
  await db.query('DROP EXTENSION webpush');
  db.removeAllListeners('notice');
  const warning = notices.find((n) => n.severity === 'WARNING');
  assert.ok(warning, 'DROP EXTENSION warned');
  assert.match(warning.message, /deletes \d+ subscriptions, \d+ VAPID keys/);
  assert.match(warning.hint, /webpush_keys_export/);

  await db.query('CREATE EXTENSION webpush');
  const restored = (await db.query('SELECT webpush_keys_import($1) AS k', [exported])).rows[0].k;
  assert.equal(restored, key, 'the same public key again');
  const id = (await db.query('SELECT webpush_subscribe($1) AS id', [s])).rows[0].id;

  // The worker left with the extension; the launcher starts it again.
  await until('a worker again', async () => (await workerPids(db, 'postgres')).length === 1);
  const [m] = await deliverTo(db, [{ id }], 'restored');
  assert.equal(m.status, 201);
  assert.equal(m.vapidKey, key);
});

test('every database with the extension gets a worker, with no restart', async () => {
  // Users who leave webpush.database_name empty (the default).
  await restartWith(db, { 'webpush.database_name': '' });
  try {
    await recreateDatabase(db, 'webpush_site2');
    const site = await connect('webpush_site2');
    try {
      assert.deepEqual(await workerPids(db, 'webpush_site2'), [], 'no worker before CREATE EXTENSION');
      await site.query('CREATE EXTENSION webpush');
      const started = Date.now();
      await until('a worker in the new database', async () => (await workerPids(db, 'webpush_site2')).length === 1, 10000);
      console.log(`# worker for a new database ${Date.now() - started} ms after CREATE EXTENSION`);

      const key = (await site.query('SELECT webpush_keys() AS k')).rows[0].k;
      const s = service.subscribe({ applicationServerKey: key });
      const id = (await site.query('SELECT webpush_subscribe($1) AS id', [s])).rows[0].id;
      const [m] = await deliverTo(site, [{ id }], 'second database');
      assert.equal(m.status, 201);

      // DROP EXTENSION stops it.
      await site.query('DROP EXTENSION webpush');
      await until('the worker gone', async () => (await workerPids(db, 'webpush_site2')).length === 0, 10000);
    } finally {
      await site.end();
    }

    // DROP DATABASE is not blocked by a worker connected to it.
    const site2 = await connect('webpush_site2');
    await site2.query('CREATE EXTENSION webpush');
    await site2.end();
    await until('a worker again', async () => (await workerPids(db, 'webpush_site2')).length === 1, 10000);
    await db.query('DROP DATABASE webpush_site2');
    await until('the worker gone with its database', async () => (await workerPids(db, 'webpush_site2')).length === 0);

    // An update from 0.2 in the middle of a drain: the worker waits for the
    // update, then delivers everything 0.2 queued, signed with 0.2's key.
    await recreateDatabase(db, 'webpush_old');
    const old = await connect('webpush_old');
    try {
      await old.query("CREATE EXTENSION webpush VERSION '0.2'");
      const priv = 'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw';
      const pub = 'BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8';
      const s = service.subscribe({ applicationServerKey: pub });
      const b64 = (t) => Buffer.from(t, 'base64url');
      // As 0.2 stored them (this library writes 0.3, so by hand).
      await old.query('INSERT INTO webpush.vapid_keys (private_key, public_key) VALUES ($1, $2)', [b64(priv), b64(pub)]);
      await old.query('INSERT INTO webpush.subscriptions (endpoint, p256dh, auth) VALUES ($1, $2, $3)',
        [s.endpoint, b64(s.keys.p256dh), b64(s.keys.auth)]);
      // In the middle of a drain: some waiting, some being sent by a worker
      // that is gone, some waiting for a retry.
      await old.query(`INSERT INTO webpush.queue (subscription_id, endpoint, p256dh, auth, payload, ttl, urgency, expires_at,
                                                  state, claimed_by, attempts, next_attempt_at, last_error)
        SELECT id, endpoint, p256dh, auth, convert_to('queued by 0.2 #' || i, 'UTF8'), 600, 'normal', now() + interval '10 minutes',
               CASE WHEN i % 4 = 1 THEN 'sending' ELSE 'queued' END,
               CASE WHEN i % 4 = 1 THEN 999999 END,
               CASE WHEN i % 4 = 1 THEN 1 WHEN i % 4 = 2 THEN 2 ELSE 0 END,
               now(), CASE WHEN i % 4 = 2 THEN 'HTTP 503' END
        FROM webpush.subscriptions, generate_series(1, 20) i`);
      assert.deepEqual(service.received(s.endpoint), [], 'nothing sent before the update');
      await old.query('ALTER EXTENSION webpush UPDATE');
      await until('20 delivered after the update', async () => service.received(s.endpoint).length >= 20, 20000);
      const got = service.received(s.endpoint);
      assert.equal(got.length, 20);
      assert.ok(got.every((m) => m.status === 201 && m.vapidKey === pub));
      assert.equal(new Set(got.map((m) => m.payload.toString())).size, 20);
    } finally {
      await old.end();
    }
    await db.query('DROP DATABASE webpush_old');
  } finally {
    await restartWith(db, { 'webpush.database_name': null });
  }
});

test('workers that do not fit in max_worker_processes say which setting to raise', async () => {
  // PostgreSQL's logical replication launcher, ours and the worker for
  // "postgres" fill the three slots.
  await restartWith(db, { 'webpush.database_name': 'postgres,webpush_full', max_worker_processes: 3, max_parallel_workers: 0 });
  try {
    await until('the postgres worker', async () => (await workerPids(db, 'postgres')).length === 1);
    const log = serverLog();
    await recreateDatabase(db, 'webpush_full');
    const full = await connect('webpush_full');
    await full.query('CREATE EXTENSION webpush');
    await full.end();
    await until('the WARNING', async () => {
      const text = log.text();
      return /no background worker slot free for a worker in database "webpush_full"/.test(text) &&
        /Raise max_worker_processes \(now 3\)/.test(text);
    }, 10000);
    await db.query('DROP DATABASE webpush_full');
  } finally {
    await restartWith(db, { 'webpush.database_name': null, max_worker_processes: null, max_parallel_workers: null });
  }
});
