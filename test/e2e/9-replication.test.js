'use strict';
// The extension under logical replication: a publication FOR ALL TABLES
// (CDC, a logical replica) makes every UPDATE and DELETE need a replica
// identity.  Every table has a primary key, or (the trigger's intake) the
// whole row as its replica identity, so sends, retries, gone
// subscriptions, cancels, scheduled messages and the trigger's intake all
// settle.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startService, restartWith, SLOW, Session, installExtension, storeSubscription, serverLog,
} = require('./helpers');

let service;
const db = new Session();
const { until, value } = db;

before(async () => {
  service = await startService();
  await restartWith(await db.connect(), { wal_level: 'logical' });
  await installExtension(db);
  await db.query('CREATE PUBLICATION webpush_everything FOR ALL TABLES');
});

after(async () => {
  await db.query('DROP PUBLICATION IF EXISTS webpush_everything');
  await restartWith(db, { wal_level: null });
  await db.end();
  await service.stop();
});

test('with a publication FOR ALL TABLES, every kind of send settles', async () => {
  const log = serverLog();
  const { rows: [{ n: tablesWithoutIdentity }] } = await db.query(`
    SELECT count(*)::int AS n FROM pg_class c
    WHERE c.relnamespace = 'webpush'::regnamespace AND c.relkind = 'r'
      AND c.relreplident = 'd' AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)`);
  assert.equal(tablesWithoutIdentity, 0, 'every table has a primary key or a replica identity');

  const retried = service.subscribe();
  const gone = service.subscribe();
  const scheduled = service.subscribe();
  const notified = service.subscribe();
  service.respond(retried.endpoint, { status: 503, headers: { 'retry-after': '1' } });
  service.respond(gone.endpoint, { status: 410 });
  const ids = {};
  for (const [name, sub] of Object.entries({ retried, gone, scheduled, notified })) {
    ids[name] = await storeSubscription(db, sub, `repl-${name}`);
  }
  await db.query('SELECT webpush_send($1::bigint, $2::text)', [ids.retried, 'retried']);
  await db.query('SELECT webpush_send($1::bigint, $2::text)', [ids.gone, 'gone']);
  const later = await value("SELECT webpush_send($1::bigint, $2::text, send_at => now() + interval '1 hour')",
    [ids.scheduled, 'cancelled']);
  await db.query('SELECT * FROM webpush_send_many($1::bigint[], $2::text)', [[ids.retried, ids.notified], 'broadcast']);
  await db.query(`CREATE TABLE repl_orders (id int, user_id text);
    CREATE TRIGGER repl_notify AFTER INSERT ON repl_orders FOR EACH ROW
      EXECUTE FUNCTION webpush_notify('user_id', 'Order {id}');`);
  try {
    // The second row of a session goes through webpush.intake.
    await db.query("INSERT INTO repl_orders VALUES (1, 'repl-notified')");
    await db.query("INSERT INTO repl_orders VALUES (2, 'repl-notified')");
    assert.equal(Number(await value('SELECT webpush_cancel($1)', [later])), 1);

    await until('everything settled', async () =>
      Number(await value('SELECT count(*) FROM webpush.deliveries WHERE subscription_id = ANY($1)',
        [Object.values(ids)])) === 0 &&
      Number(await value("SELECT count(*) FROM webpush.intake WHERE user_id LIKE 'repl-%'")) === 0, 30000 * SLOW);
    const got = (sub) => service.received(sub.endpoint).filter((m) => m.status === 201).map((m) => m.payload.toString()).sort();
    assert.deepEqual(got(retried), ['broadcast', 'retried']);
    assert.equal(service.received(retried.endpoint).length, 3, 'one 503, then both delivered');
    const title = (p) => { try { return JSON.parse(p).title; } catch { return p; } };
    assert.deepEqual(got(notified).map(title).sort(), ['Order 1', 'Order 2', 'broadcast']);
    assert.deepEqual(got(scheduled), []);
    assert.equal(Number(await value('SELECT count(*) FROM webpush.subscriptions WHERE id = $1', [ids.gone])), 0,
      'the 410 removed the subscription');
    const outcomes = (await db.query(
      `SELECT outcome, count(*)::int AS n FROM webpush.history WHERE subscription_id = ANY($1) GROUP BY 1 ORDER BY 1`,
      [Object.values(ids)])).rows;
    assert.deepEqual(outcomes, [
      { outcome: 'cancelled', n: 1 }, { outcome: 'delivered', n: 5 }, { outcome: 'failed', n: 1 }]);
    const written = log.text();
    assert.doesNotMatch(written, /replica identity/, 'no statement needed a replica identity it lacked');
    assert.doesNotMatch(written, /webpush worker.*(ERROR|exited with exit code)/);
  } finally {
    await db.query('DROP TABLE repl_orders');
    for (const name of Object.keys(ids)) await db.query('SELECT webpush_unsubscribe_user($1)', [`repl-${name}`]);
  }
});
