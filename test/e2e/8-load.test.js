'use strict';
// Under OLTP load, as an application uses it: several clients insert orders
// for 15 s, a trigger sends each one to its user (half the clients fire the
// generic trigger, webpush_notify(), the others the PL/pgSQL form that
// calls webpush_send_user), and the worker drains to
// the push service (in a process of its own) while the load goes on and
// after.  Nothing fails on purpose, so every order must arrive exactly once;
// and sessions that subscribe, re-subscribe and unsubscribe the same
// endpoints at once never see an error.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { fork } = require('node:child_process');
const { connect, startService, Session, installExtension, SLOW } = require('./helpers');

const LOAD_SECONDS = Number(process.env.WEBPUSH_LOAD_SECONDS) || 15;
const CLIENTS = 8;
const USERS = 200;

let service;
const db = new Session('postgres', { reconnect: true });
const { until } = db;

function ask(cmd, extra = {}) {
  return new Promise((resolve) => {
    service.once('message', resolve);
    service.send({ cmd, ...extra });
  });
}

before(async () => {
  const tls = process.env.WEBPUSH_TEST_TLS;
  service = fork(path.join(__dirname, '..', 'push-service-process.js'));
  await ask('start', { key: path.join(tls, 'server.key'), cert: path.join(tls, 'server.pem') });
  await installExtension(await db.connect());
  await db.query(`
    DROP TABLE IF EXISTS load_orders;
    CREATE TABLE load_orders (id bigserial PRIMARY KEY, user_id text NOT NULL, item text NOT NULL);
    CREATE OR REPLACE FUNCTION load_notify_order() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM webpush_send_user(NEW.user_id,
        webpush_notification('Order received', 'Your ' || NEW.item || ' is on its way',
                             '/orders/' || NEW.id));
      RETURN NEW;
    END $$;
    CREATE TRIGGER load_orders_notify AFTER INSERT ON load_orders
      FOR EACH ROW EXECUTE FUNCTION load_notify_order();
    DROP TABLE IF EXISTS load_tickets;
    CREATE TABLE load_tickets (id bigserial PRIMARY KEY, user_id text NOT NULL, item text NOT NULL);
    CREATE TRIGGER load_tickets_notify AFTER INSERT ON load_tickets FOR EACH ROW
      EXECUTE FUNCTION webpush_notify('user_id', 'Ticket received', 'Your {item} is on its way', '/tickets/{id}');`);
});

after(async () => {
  await db.query('DROP TABLE IF EXISTS load_orders, load_tickets; DROP FUNCTION IF EXISTS load_notify_order()').catch(() => {});
  await db.end().catch(() => {});
  await ask('stop').catch(() => {});
});

test(`${CLIENTS} clients insert orders for ${LOAD_SECONDS} s: every notification arrives exactly once`, async () => {
  const { subs } = await ask('subscribe', { n: USERS });
  await db.query('DELETE FROM webpush.subscriptions');
  const { rows: stored } = await db.query(
    'SELECT webpush_subscribe(s, $2 || i) AS id FROM unnest($1::jsonb[]) WITH ORDINALITY AS t(s, i)',
    [subs, 'user-']);
  const ids = stored.map((r) => r.id);

  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect()));
  const deadline = Date.now() + LOAD_SECONDS * 1000;
  let inserted = 0;
  await Promise.all(clients.map(async (c, k) => {
    for (let i = 0; Date.now() < deadline; i++) {
      const user = `user-${1 + ((k * 7919 + i) % USERS)}`;
      const table = k % 2 === 0 ? 'load_orders' : 'load_tickets';
      await c.query(`INSERT INTO ${table} (user_id, item) VALUES ($1, $2)`, [user, `item ${k}-${i}`]);
      inserted++;
    }
  }));
  await Promise.all(clients.map((c) => c.end()));

  await until('the queue drained', async () =>
    Number((await db.query(`SELECT (SELECT count(*) FROM webpush.deliveries)
                                   + (SELECT count(*) FROM webpush.intake) AS n`)).rows[0].n) === 0,
  300000);
  await until('every delivery counted', async () => (await ask('stats')).distinct >= inserted, 30000).catch(() => {});
  const stats = await ask('stats');
  const { rows: [h] } = await db.query(`SELECT count(*) FILTER (WHERE outcome = 'delivered') AS delivered,
                                               count(*) FILTER (WHERE outcome <> 'delivered') AS other,
                                               count(*) FILTER (WHERE attempts > 1) AS resent
                                        FROM webpush.history WHERE subscription_id = ANY($1)`, [ids]);
  const seconds = LOAD_SECONDS;
  console.log(`# load: ${inserted} orders in ${seconds} s (${Math.round(inserted / seconds)}/s) by ${CLIENTS} clients; ` +
    `${stats.delivered} deliveries, ${stats.distinct} distinct, ${stats.duplicates} twice; ` +
    `history: ${h.delivered} delivered, ${h.other} not, ${h.resent} resent; ` +
    `TLS sessions: ${stats.sessionsOpened} opened, at most ${stats.sessionsMax} at once` +
    (stats.sessionErrors.length ? `; session errors: ${stats.sessionErrors.join(', ')}` : ''));

  assert.equal(stats.problems, 0, stats.firstProblem);
  assert.ok(inserted >= 1000 / SLOW, `only ${inserted} orders`);
  assert.equal(stats.distinct, inserted, 'every order arrived');
  assert.equal(stats.duplicates, 0, `arrived twice: ${stats.twice.join(' | ')}`);
  assert.equal(Number(h.delivered), inserted);
  assert.ok(stats.sessionsMax <= 4, `${stats.sessionsMax} TLS sessions at once, more than 4`);
});

test('concurrent subscribe, re-subscribe and unsubscribe of the same endpoints never fail', async () => {
  const { subs } = await ask('subscribe', { n: 5 });
  const clients = await Promise.all(Array.from({ length: 6 }, () => connect()));
  const errors = [];
  await Promise.all(clients.map(async (c, k) => {
    for (let i = 0; i < 300; i++) {
      const s = subs[(k + i) % subs.length];
      try {
        if ((i + k) % 5 === 4) {
          await c.query('SELECT webpush_unsubscribe($1)', [s.endpoint]);
        } else if ((i + k) % 3 === 0) {
          // Several statements in one transaction, as an application's would.
          await c.query('BEGIN');
          await c.query('SELECT webpush_subscribe($1, $2)', [s, `u${k}`]);
          await c.query('SELECT webpush_subscribe($1, $2)', [s, `v${k}`]);
          await c.query('COMMIT');
        } else {
          await c.query('SELECT webpush_subscribe($1, $2)', [s, `u${k}`]);
        }
      } catch (e) {
        errors.push(`${e.code}: ${e.message}`);
        await c.query('ROLLBACK').catch(() => {});
      }
    }
  }));
  await Promise.all(clients.map((c) => c.end()));
  assert.deepEqual(errors.slice(0, 5), [], `${errors.length} errors`);
});

// A push service that allows few streams at once, and one that sends a
// graceful GOAWAY every 100 requests: the streams it refused unprocessed go
// out again at once, uncounted, on another connection; nothing twice.
for (const [label, setup] of [
  ['SETTINGS_MAX_CONCURRENT_STREAMS 5', (s) => { s.settings = { maxConcurrentStreams: 5 }; }],
  ['a GOAWAY every 100 requests', (s) => { s.goawayEvery = 100; }],
]) {
  test(`a push service with ${label}: every message once, none waits for a retry`, async () => {
    const small = await startService(setup);
    try {
      const subs = Array.from({ length: 10 }, () => small.subscribe());
      const { rows } = await db.query('SELECT webpush_subscribe(s) AS id FROM unnest($1::jsonb[]) AS s', [subs]);
      const ids = rows.map((r) => r.id);
      const started = Date.now();
      await db.query("SELECT webpush_send(s, 'm' || s || '-' || i) FROM unnest($1::bigint[]) s, generate_series(1, 100) i", [ids]);
      await small.waitFor((m) => new Set(m.map((x) => String(x.payload))).size === 1000, 20000);
      const took = Date.now() - started;
      await until('the history written', async () =>
        Number((await db.query('SELECT count(*) AS n FROM webpush.history WHERE subscription_id = ANY($1)', [ids])).rows[0].n) === 1000,
      20000);
      const { rows: [h] } = await db.query(`SELECT count(*) FILTER (WHERE outcome = 'delivered') AS delivered,
                                                   max(attempts) AS most FROM webpush.history WHERE subscription_id = ANY($1)`, [ids]);
      console.log(`# ${label}: 1000 messages in ${took} ms, ${small.messages.length} requests, ` +
        `${small.refusedAfterGoaway} refused after a GOAWAY, ${small.sessions.size} sessions open at the end`);
      assert.equal(small.problems.length, 0, small.problems[0]);
      assert.equal(small.messages.length, 1000, 'nothing sent twice');
      assert.equal(Number(h.delivered), 1000);
      assert.equal(Number(h.most), 1, 'no attempt was counted twice');
      assert.ok(took < 10000 * SLOW, `took ${took} ms: something waited for a backoff`);
      await db.query('DELETE FROM webpush.subscriptions WHERE id = ANY($1)', [ids]);
    } finally {
      await small.stop();
    }
  });
}
