'use strict';
// The launcher may exit while its workers run (pg_terminate_backend, an
// error); the postmaster starts a new one five seconds later.  The new one
// adopts the workers that still run: each database keeps exactly
// webpush.workers workers, the same processes, listed by webpush_workers();
// nothing in flight is sent twice; and DROP DATABASE still stops them.
//
// webpush.workers and webpush.database_name are read at server start, so
// this file restarts the server (and restores it).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startService, connect, freshDatabase, restartWith, Session, installExtension, storeSubscription,
} = require('./helpers');

const OTHER = 'e2e_launcher';
let service;
const db = new Session('postgres', { reconnect: true });
const { until } = db;
let other;

// Worker pids by database, as pg_stat_activity and as webpush_workers() see
// them: { postgres: [pid, pid], e2e_launcher: [...] }.
async function running() {
  const { rows } = await db.query(`SELECT datname AS db, array_agg(pid ORDER BY pid) AS pids
    FROM pg_stat_activity WHERE backend_type = 'webpush worker' GROUP BY datname`);
  return Object.fromEntries(rows.map((r) => [r.db, r.pids]));
}

async function listed() {
  const { rows } = await db.query(`SELECT database AS db, array_agg(pid ORDER BY pid) AS pids
    FROM webpush_workers() GROUP BY database`);
  return Object.fromEntries(rows.map((r) => [r.db, r.pids]));
}

async function launcher() {
  const { rows } = await db.query(`SELECT pid, wait_event FROM pg_stat_activity
    WHERE backend_type = 'webpush launcher'`);
  assert.ok(rows.length <= 1, 'at most one launcher');
  return rows[0] || null;
}

// The launcher sleeps in its loop with this wait event (PostgreSQL 17 and
// later name it; before, every extension's wait is "Extension").
const LAUNCHER_IDLE = new Set(['WebPushLauncher', 'Extension']);

// Terminates the launcher and waits until a new one has come and gone
// through its first turn (it sleeps in its loop): by then it has started
// whatever workers it meant to.
async function restartLauncher() {
  const old = await launcher();
  assert.ok(old, 'a launcher runs');
  await db.query('SELECT pg_terminate_backend($1)', [old.pid]);
  const now = await until('a new launcher, idle in its loop', async () => {
    const l = await launcher();
    return l && l.pid !== old.pid && LAUNCHER_IDLE.has(l.wait_event) && l;
  }, 30000);
  return now.pid;
}

// Asserts that both databases have exactly the configured workers, the
// processes in pids, and that webpush_workers() lists those.
async function assertWorkers(pids, when) {
  assert.deepEqual(await running(), pids, `${when}: pg_stat_activity shows the same workers`);
  assert.deepEqual(await listed(), pids, `${when}: webpush_workers() lists them`);
}

async function subscribeIn(client, n) {
  const ids = [];
  for (let i = 0; i < n; i++) ids.push(await storeSubscription(client, service.subscribe()));
  return ids;
}

// Titles "label database subscription n", distinct across both databases.
async function send(client, ids, label, per) {
  await client.query(`SELECT webpush_send(s, jsonb_build_object('title',
      $2 || ' ' || current_database() || ' ' || s || ' ' || i))
    FROM unnest($1::bigint[]) s, generate_series(1, $3) i`, [ids, label, per]);
}

async function deliveredIn(client, label) {
  const { rows } = await client.query(`SELECT count(*)::int AS n FROM webpush.history h
    JOIN webpush.messages m ON m.id = h.message_id
    WHERE h.outcome = 'delivered'
      AND CASE WHEN convert_from(m.payload, 'UTF8') LIKE '{%'
               THEN convert_from(m.payload, 'UTF8')::jsonb ->> 'title' END LIKE $1 || ' %'`,
  [label]);
  return rows[0].n;
}

// How often each title with this label arrived.
function arrivals(label) {
  const seen = new Map();
  for (const m of service.messages) {
    const title = m.payload && JSON.parse(m.payload).title;
    if (title && title.startsWith(`${label} `)) seen.set(title, (seen.get(title) || 0) + 1);
  }
  return seen;
}

before(async () => {
  service = await startService();
  await restartWith(await db.connect(), { 'webpush.workers': 2, 'webpush.database_name': `postgres, ${OTHER}` });
  await installExtension(db);
  other = await freshDatabase(OTHER);
  await other.query('SELECT webpush_keys()');
});

after(async () => {
  await other.end().catch(() => {});
  const admin = await connect();
  await admin.query(`DROP DATABASE IF EXISTS ${OTHER} WITH (FORCE)`);
  await admin.end();
  service.defaultResponse = { status: 201 };
  await restartWith(db, { 'webpush.workers': null, 'webpush.database_name': null });
  await db.end();
  await service.stop();
});

test('a restarted launcher adopts the running workers: exactly webpush.workers per database, each notification once, DROP DATABASE works', async () => {
  const configured = Number((await db.query("SELECT current_setting('webpush.workers') AS n")).rows[0].n);
  assert.equal(configured, 2);
  const pids = await until('both databases served by their workers', async () => {
    const r = await running();
    const l = await listed();
    const full = (x) => [x.postgres, x[OTHER]].every((p) => p && p.length === configured && p.every((pid) => pid));
    return full(r) && full(l) && JSON.stringify(r) === JSON.stringify(l) && r;
  }, 30000);

  const here = await subscribeIn(db, 4);
  const there = await subscribeIn(other, 4);

  // Notifications in flight while the launcher goes: the push service holds
  // its answers until the new launcher is in place.  Were there new workers
  // beside the old ones, they would take the old ones' rows for orphans and
  // send them again.
  let open;
  const gate = new Promise((resolve) => { open = resolve; });
  service.defaultResponse = {
    status: 201,
    respondWith: async (res) => { await gate; res.writeHead(201); res.end(); },
  };
  const first = service.messages.length;
  await send(db, here, 'held', 10);
  await send(other, there, 'held', 10);
  await service.waitFor(() => service.messages.length - first >= 80);

  const launcher1 = await restartLauncher();
  await assertWorkers(pids, 'after the first launcher restart');
  open();
  service.defaultResponse = { status: 201 };
  await until('the held notifications recorded', async () =>
    (await deliveredIn(db, 'held')) === 40 && (await deliveredIn(other, 'held')) === 40, 30000);
  let seen = arrivals('held');
  assert.equal(seen.size, 80, 'every held notification arrived');
  assert.deepEqual([...seen.values()].filter((c) => c > 1), [], 'none arrived twice');

  const launcher2 = await restartLauncher();
  assert.notEqual(launcher2, launcher1);
  await send(db, here, 'after', 10);
  await send(other, there, 'after', 10);
  await until('the later notifications recorded', async () =>
    (await deliveredIn(db, 'after')) === 40 && (await deliveredIn(other, 'after')) === 40, 30000);
  seen = arrivals('after');
  assert.equal(seen.size, 80, 'every later notification arrived');
  assert.deepEqual([...seen.values()].filter((c) => c > 1), [], 'none arrived twice');
  await assertWorkers(pids, 'after the second launcher restart');

  // DROP DATABASE stops the workers it finds in webpush_workers(): all of
  // them, adopted ones included.
  await other.end();
  await db.query(`DROP DATABASE ${OTHER}`);
  await until('the dropped database\'s workers gone from webpush_workers()', async () =>
    JSON.stringify(await listed()) === JSON.stringify({ postgres: pids.postgres }), 30000);
  assert.deepEqual(await running(), { postgres: pids.postgres }, 'the other database keeps its workers');
  assert.deepEqual(service.problems, []);
});
