'use strict';
// webpush.workers = 2: two workers drain the same queue in parallel.  Every
// message arrives exactly once, and both workers take part.  The setting is
// read at server start, so this file restarts the server (and restores it).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startService, restartWith, Session, installExtension, newSubscribers, workerPids, reloadWorker } = require('./helpers');

let service;
const db = new Session();
const { until } = db;

before(async () => {
  service = await startService();
  // Small claims, so that the two workers interleave on a short queue.
  await restartWith(await db.connect(), { 'webpush.workers': 2, 'webpush.batch_size': 25 });
  // Workers serve databases that have the extension.
  await installExtension(db);
});

after(async () => {
  await restartWith(db, { 'webpush.workers': null, 'webpush.batch_size': null, 'webpush.host_rates': null });
  await db.end();
  await service.stop();
});

test('two workers share the queue and send every message exactly once', async () => {
  const pids = await until('two workers', async () => { const p = await workerPids(db); return p.length === 2 && p; });
  assert.equal(pids.length, 2);

  const subs = await newSubscribers(db, service, 20);
  const ids = subs.map((s) => s.id);
  const first = service.messages.length;
  const { rows: [{ n }] } = await db.query(
    "SELECT count(webpush_send(s, 'two workers ' || s || ' ' || i))::int AS n FROM unnest($1::bigint[]) s, generate_series(1, 50) i",
    [ids]);
  assert.equal(n, 1000);

  await until('1000 recorded as delivered', async () => Number((await db.query(
    "SELECT count(*) AS n FROM webpush.history WHERE subscription_id = ANY($1) AND outcome = 'delivered'", [ids])).rows[0].n) === 1000);
  const arrived = service.messages.slice(first);
  const seen = new Map();
  for (const m of arrived) {
    assert.deepEqual(m.errors, []);
    const text = m.payload.toString();
    seen.set(text, (seen.get(text) || 0) + 1);
  }
  const twice = [...seen.values()].filter((c) => c > 1).length;
  console.log(`# 2 workers: 1000 queued, ${arrived.length} arrived, ${seen.size} distinct, ${twice} twice, over ${new Set(arrived.map((m) => m.remotePort)).size} connections`);
  assert.equal(seen.size, 1000, 'every message arrived');
  assert.equal(twice, 0, 'no message arrived twice');
  assert.equal(arrived.length, 1000);
  // Each worker has its own connection: both took part.
  assert.ok(new Set(arrived.map((m) => m.remotePort)).size >= 2, 'both workers sent');
  assert.deepEqual(await workerPids(db), pids, 'neither worker restarted');
});

test('two workers keep one host rate together: 20/s with a burst of 5, from shared buckets', async () => {
  const [sub] = await newSubscribers(db, service, 1);
  const host = new URL(sub.endpoint).host;
  const n = 105;
  await db.query(`ALTER SYSTEM SET webpush.host_rates = '${host}=20/5'`);
  await reloadWorker(db);
  const first = service.messages.length;
  await db.query("SELECT webpush_send($1::bigint, 'shared rate ' || g) FROM generate_series(1, $2) g", [sub.id, n]);
  await service.waitFor(() => service.messages.length - first === n, 30000);
  const arrived = service.messages.slice(first);
  const t = arrived.map((m) => m.receivedAt).sort((a, b) => a - b);
  const rate = (n - 5) / ((t[n - 1] - t[4]) / 1000);
  const byConnection = new Map();
  for (const m of arrived) byConnection.set(m.remotePort, (byConnection.get(m.remotePort) || 0) + 1);
  const connections = byConnection.size;
  console.log(`# 2 workers, host rate 20/s: ${n} in ${((t[n - 1] - t[0]) / 1000).toFixed(2)} s, ${rate.toFixed(2)}/s after the burst, over ${connections} connections (${[...byConnection.values()].join(' + ')})`);
  // Each worker keeping the whole rate would make it 40/s; half each, 10/s
  // while one worker holds most of the queue.
  assert.ok(rate >= 18 && rate <= 22, `within 10% of 20/s: ${rate}`);
  assert.ok(connections >= 2, 'both workers sent');
  await db.query('ALTER SYSTEM RESET webpush.host_rates');
  await reloadWorker(db);
});
