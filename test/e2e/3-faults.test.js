'use strict';
// Faults survived: repeated worker kills, push service outages and rate
// limiting, dumps, and a standby promoted to primary.  Each ends with every
// committed notification delivered (or recorded as failed with a reason).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Client } = require('pg');
const {
  setUpFile, tearDownFile, connect, caFile, SLOW, Session, newSubscribers, workerPids, recreateDatabase, pgCtl,
  startServer,
} = require('./helpers');

let service;
const db = new Session('postgres', { reconnect: true });
const { until } = db;
const scalar = async (sql, params) => Number(await db.value(sql, params));
const subscribeMany = (n) => newSubscribers(db, service, n);

// The pid of the one worker, or null while there is none.
async function workerPid() {
  const pids = await workerPids(db);
  assert.ok(pids.length <= 1, 'at most one worker');
  return pids.length ? pids[0] : null;
}

async function queue(subs, per, label, extra = '') {
  await db.query(`SELECT webpush_send(s.id, $3 || '-' || s.id || '-' || i ${extra})
                  FROM unnest($1::bigint[]) AS s(id), generate_series(1, $2) AS i`,
  [subs.map((s) => s.id), per, label]);
}

function payloads(subs) {
  return subs.flatMap((s) => service.received(s.endpoint).filter((m) => m.status === 201)
    .map((m) => String(m.payload)));
}

// Waits until every queued notification is accounted for and returns the
// figures: delivered (distinct), duplicates, lost.
async function settle(subs, expected) {
  await until('an empty queue', async () =>
    (await scalar('SELECT count(*) FROM webpush.deliveries WHERE subscription_id = ANY($1)', [subs.map((s) => s.id)])) === 0,
  120000);
  const all = payloads(subs);
  const distinct = new Set(all);
  const recorded = await scalar(
    "SELECT count(*) FROM webpush.history WHERE subscription_id = ANY($1) AND outcome = 'delivered'",
    [subs.map((s) => s.id)]);
  return { delivered: distinct.size, duplicates: all.length - distinct.size, lost: expected - distinct.size, recorded };
}

before(async () => {
  service = await setUpFile(db);
});

after(() => tearDownFile(db, service));

test('kill -9 of the worker three times during a drain of 3000: nothing lost', async () => {
  const subs = await subscribeMany(6);
  service.defaultResponse = { status: 201, delayMs: 100 };
  try {
    await queue(subs, 500, 'kill3');
    for (let k = 1; k <= 3; k++) {
      const target = (3000 * k) / 4;
      await service.waitFor(() => new Set(payloads(subs)).size >= target, 60000);
      const pid = await workerPid();
      process.kill(pid, 'SIGKILL');
      // The postmaster restarts every backend; wait for the new worker.
      await until('a new worker', async () => {
        const now = await workerPid();
        return now !== null && now !== pid;
      });
    }
    const r = await settle(subs, 3000);
    console.log(`# kill -9 x3: 3000 queued, ${r.delivered} delivered, ${r.duplicates} duplicates, ${r.lost} lost`);
    assert.equal(r.lost, 0);
    assert.equal(r.recorded, 3000);
  } finally {
    service.defaultResponse = { status: 201 };
  }
});

test('a push service down for 6 s: what waited for it goes out within 2 s of its return, and no retry is spent on probing', async () => {
  const subs = await subscribeMany(2);
  const ids = subs.map((s) => s.id);
  await service.pause();
  const t0 = Date.now();
  await queue(subs, 50, 'short outage');
  await until('retries during the outage', async () =>
    (await scalar('SELECT count(*) FROM webpush.deliveries WHERE subscription_id = ANY($1) AND attempts >= 2', [ids])) === 100);
  await new Promise((r) => setTimeout(r, Math.max(0, 6000 - (Date.now() - t0))));
  // Each delivery's own backoff (1, 2, 4 s, give or take half) allows four
  // attempts in 6 s; the worker's probes, one a second, count for nobody.
  const attempts = await scalar('SELECT max(attempts) FROM webpush.deliveries WHERE subscription_id = ANY($1)', [ids]);
  await service.resume();
  const back = Date.now();
  await service.waitFor(() => new Set(payloads(subs)).size === 100, 30000 * SLOW);
  const last = Math.max(...subs.flatMap((s) => service.received(s.endpoint)
    .filter((m) => m.status === 201).map((m) => m.receivedAt)));
  const r = await settle(subs, 100);
  console.log(`# 6 s outage: the last of 100 delivered ${last - back} ms after the service was back; ` +
    `at most ${attempts} attempts during the outage; ${r.duplicates} duplicates, ${r.lost} lost`);
  assert.equal(r.lost, 0);
  assert.ok(attempts <= 4, `${attempts} attempts in 6 s`);
  assert.ok(last - back <= 2000 * SLOW, `the backlog took ${last - back} ms after the service was back`);
});

test('a push service refusing connections for 30 s: delivered once it is back', async () => {
  const subs = await subscribeMany(2);
  await service.pause();
  const t0 = Date.now();
  await queue(subs, 50, 'outage');
  // The worker keeps retrying with backoff while nothing answers.
  await until('retries during the outage', async () =>
    (await scalar('SELECT count(*) FROM webpush.deliveries WHERE subscription_id = ANY($1) AND attempts >= 2',
      [subs.map((s) => s.id)])) === 100);
  const { rows } = await db.query('SELECT DISTINCT last_error FROM webpush.deliveries WHERE subscription_id = ANY($1)',
    [subs.map((s) => s.id)]);
  assert.match(rows.map((r) => r.last_error).join(' '), /connect/i);
  await new Promise((r) => setTimeout(r, Math.max(0, 30000 - (Date.now() - t0))));
  await service.resume();
  const r = await settle(subs, 100);
  console.log(`# 30 s outage: 100 queued, ${r.delivered} delivered, ${r.duplicates} duplicates, ${r.lost} lost`);
  assert.equal(r.lost, 0);
  assert.equal(r.recorded, 100);
});

test('a push service answering 429 to everything for a while: delivered afterwards', async () => {
  const subs = await subscribeMany(2);
  service.defaultResponse = { status: 429, headers: { 'retry-after': '1' } };
  await queue(subs, 100, 'throttled');
  await until('every message throttled at least twice', async () =>
    (await scalar('SELECT count(*) FROM webpush.deliveries WHERE subscription_id = ANY($1) AND attempts >= 2',
      [subs.map((s) => s.id)])) === 200);
  service.defaultResponse = { status: 201 };
  const r = await settle(subs, 200);
  const throttled = subs.reduce((a, s) => a + service.received(s.endpoint).filter((m) => m.status === 429).length, 0);
  console.log(`# 429 storm: 200 queued, ${throttled} answers of 429, ${r.delivered} delivered, ${r.duplicates} duplicates, ${r.lost} lost`);
  assert.equal(r.lost, 0);
  assert.equal(r.recorded, 200);
});

test('pg_dump and pg_restore keep the key pair and the subscriptions', async () => {
  const admin = await connect('postgres');
  for (const name of ['e2e_dump_src', 'e2e_dump_dst']) await recreateDatabase(admin, name);
  const src = await connect('e2e_dump_src');
  await src.query('CREATE EXTENSION webpush');
  const key = (await src.query('SELECT webpush_keys() AS k')).rows[0].k;
  const sub = service.subscribe();
  await src.query("SELECT webpush_subscribe($1, 'dana')", [sub]);
  await src.end();
  const file = path.join(process.env.PGDATA, '..', 'dump.custom');
  execFileSync('pg_dump', ['-Fc', '-f', file, 'e2e_dump_src']);
  execFileSync('pg_restore', ['-d', 'e2e_dump_dst', file]);
  const dst = await connect('e2e_dump_dst');
  assert.equal((await dst.query('SELECT webpush_keys() AS k')).rows[0].k, key, 'same key pair');
  const { rows } = await dst.query('SELECT endpoint, user_id FROM webpush.subscriptions');
  assert.deepEqual(rows, [{ endpoint: sub.endpoint, user_id: 'dana' }]);
  // And the restored database can send with them.
  await dst.query(`SET webpush.ca_file = '${caFile}'`);
  const { rows: sent } = await dst.query('SELECT status FROM webpush_send_now((SELECT id FROM webpush.subscriptions), $1)', ['restored']);
  assert.equal(sent[0].status, 201);
  assert.equal(service.received(sub.endpoint)[0].vapidKey, key);
  await dst.end();
  await admin.end();
});

test('a standby runs no worker, logs nothing of webpush and refuses sends; once promoted it delivers what was queued or scheduled before', async () => {
  const standbyDir = path.join(process.env.PGDATA, '..', 'standby');
  const port = Number(process.env.PGPORT) + 1;
  fs.rmSync(standbyDir, { recursive: true, force: true });
  execFileSync('pg_basebackup', ['-D', standbyDir, '-R', '-X', 'stream', '-c', 'fast']);
  fs.appendFileSync(path.join(standbyDir, 'postgresql.conf'), `\nport = ${port}\n`);
  execFileSync('pg_ctl', ['start', '-w', '-D', standbyDir, '-l', path.join(standbyDir, 'log')], { stdio: 'ignore' });
  const standby = new Client({ host: process.env.PGHOST, port, database: 'postgres' });
  await standby.connect();
  let subs = [];
  try {
    assert.equal((await standby.query('SELECT pg_is_in_recovery() AS r')).rows[0].r, true);
    // While nothing can be delivered, queue on the primary.
    subs = await subscribeMany(2);
    await service.pause();
    await queue(subs, 25, 'switchover');
    // And one due a few seconds from now: the promoted server sends it.
    await db.query("SELECT webpush_send($1::bigint, 'scheduled', send_at => now() + interval '3 seconds')", [subs[0].id]);
    const lsn = (await db.query('SELECT pg_current_wal_lsn() AS l')).rows[0].l;
    await until('the standby replayed it', async () =>
      (await standby.query('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn])).rows[0].ok);
    const workers = await standby.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'webpush worker'");
    assert.equal(workers.rows[0].n, 0, 'no worker on a standby');
    // Sending on a standby is PostgreSQL's read-only error, nothing else.
    for (const [sql, params] of [['SELECT webpush_send($1::bigint, $2::text)', [subs[0].id, 'on the standby']],
      ['SELECT * FROM webpush_send_many($1::bigint[], $2::text)', [[subs[0].id], 'on the standby']],
      ['SELECT webpush_subscribe($1::jsonb)', [service.subscribe()]]]) {
      await assert.rejects(standby.query(sql, params), (e) => e.code === '25006', `${sql} fails as read-only`);
    }
    const standbyLog = fs.readFileSync(path.join(standbyDir, 'log'), 'utf8');
    assert.doesNotMatch(standbyLog.replace(/.*read-only transaction.*\n(.*STATEMENT.*\n)?/g, ''),
      /webpush.*(ERROR|WARNING|FATAL)|(ERROR|WARNING|FATAL).*webpush/, 'nothing of webpush in the standby\'s log');
    // The primary goes away; the standby takes over.
    await db.end().catch(() => {});
    pgCtl('stop', '-m', 'immediate', '-w');
    await service.resume();
    execFileSync('pg_ctl', ['promote', '-w', '-D', standbyDir], { stdio: 'ignore' });
    await until('the promoted server delivered everything', async () =>
      Number((await standby.query('SELECT count(*) AS n FROM webpush.deliveries WHERE subscription_id = ANY($1)',
        [subs.map((s) => s.id)])).rows[0].n) === 0, 60000);
    await until('the scheduled one too', async () => payloads(subs).includes('scheduled'), 30000);
    const distinct = new Set(payloads(subs));
    console.log(`# standby promoted: 51 queued before the switch (one scheduled), ${distinct.size} delivered after it`);
    assert.equal(distinct.size, 51);
  } finally {
    await standby.end().catch(() => {});
    execFileSync('pg_ctl', ['stop', '-m', 'fast', '-w', '-D', standbyDir], { stdio: 'ignore' });
    // Bring the original primary back for whatever runs next (a failure
    // above may have left it running).
    let running = true;
    try {
      pgCtl('status');
    } catch {
      running = false;
    }
    if (!running) startServer();
    await db.connect();
    // The old primary still holds the copies the promoted standby delivered.
    await db.query('DELETE FROM webpush.deliveries WHERE subscription_id = ANY($1)', [subs.map((s) => s.id)]);
  }
});
