'use strict';
// An application behind pgbouncer in transaction mode (Debian's package):
// each transaction may run on another server connection, so nothing the
// extension keeps per session may change what a call does.  The tutorial's
// trigger, subscribing, sending, cancelling and the status of a message,
// through the pooler, from several clients at once.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Client } = require('pg');
const { setUpFile, tearDownFile, SLOW, Session, createRole } = require('./helpers');

let service;
const db = new Session();
let bouncer;
const port = Number(process.env.WEBPUSH_TEST_TCP_BASE) + 21;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webpush-pgbouncer-'));

const { until } = db;

async function value(client, sql, params) {
  const { rows } = await client.query(sql, params);
  return Object.values(rows[0])[0];
}

async function pooled() {
  const client = new Client({ host: '127.0.0.1', port, database: 'postgres', user: 'pool_app' });
  await client.connect();
  return client;
}

before(async () => {
  service = await setUpFile(db);
  await createRole(db, 'pool_app', ['webpush_sender']);
  await db.query(`CREATE TABLE pool_orders (id serial PRIMARY KEY, user_id text, item text NOT NULL);
    GRANT SELECT, INSERT ON pool_orders TO pool_app;
    GRANT USAGE ON SEQUENCE pool_orders_id_seq TO pool_app;
    CREATE TRIGGER pool_orders_notify AFTER INSERT ON pool_orders FOR EACH ROW
      EXECUTE FUNCTION webpush_notify('user_id', 'Order received', 'Your {item} is on its way', '/orders/{id}');`);
  fs.writeFileSync(path.join(dir, 'userlist.txt'), '"pool_app" ""\n');
  fs.writeFileSync(path.join(dir, 'pgbouncer.ini'), `[databases]
postgres = host=${process.env.PGHOST} port=${process.env.PGPORT} dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${path.join(dir, 'userlist.txt')}
pool_mode = transaction
default_pool_size = 2
max_client_conn = 50
logfile = ${path.join(dir, 'pgbouncer.log')}
pidfile = ${path.join(dir, 'pgbouncer.pid')}
`);
  bouncer = spawn('pgbouncer', [path.join(dir, 'pgbouncer.ini')], { stdio: 'ignore' });
  await until('pgbouncer to accept connections', async () => {
    try {
      const c = await pooled();
      await c.end();
      return true;
    } catch {
      return false;
    }
  });
});

after(async () => {
  bouncer.kill('SIGTERM');
  await new Promise((resolve) => bouncer.once('exit', resolve));
  await db.query('DROP TABLE IF EXISTS pool_orders');
  await db.query('DROP ROLE IF EXISTS pool_app');
  await tearDownFile(db, service);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('through pgbouncer in transaction mode: subscribe, the trigger, send, cancel, status', async () => {
  const CLIENTS = 6;
  const ORDERS = 10;
  const subs = [];
  const clients = [];
  for (let i = 0; i < CLIENTS; i++) clients.push(await pooled());
  try {
    // Six clients on two server connections: each statement may run on
    // either, after any other client's.
    await Promise.all(clients.map(async (c, i) => {
      const sub = service.subscribe();
      subs.push(sub);
      await c.query('SELECT webpush_subscribe($1::jsonb, $2)', [sub, `pooled-${i}`]);
    }));
    await Promise.all(clients.map(async (c, i) => {
      for (let n = 0; n < ORDERS; n++) {
        await c.query('INSERT INTO pool_orders (user_id, item) VALUES ($1, $2)', [`pooled-${i}`, `item ${n}`]);
      }
      await c.query("SELECT webpush_send_user($1, 'direct')", [`pooled-${i}`]);
    }));
    // A scheduled one, cancelled from another client, and its status.
    const msg = await value(clients[0],
      "SELECT message_id FROM webpush_send_user('pooled-0', 'later', send_at => now() + interval '1 hour')");
    assert.equal(Number(await value(clients[1], 'SELECT webpush_cancel($1)', [msg])), 1);
    assert.equal(Number(await value(clients[2], 'SELECT cancelled FROM webpush.message_status WHERE id = $1', [msg])), 1);

    await until('every notification delivered', async () =>
      subs.every((s) => service.received(s.endpoint).filter((m) => m.status === 201).length === ORDERS + 1),
    30000 * SLOW);
    for (const s of subs) {
      const got = service.received(s.endpoint).map((m) => m.payload.toString());
      assert.equal(new Set(got).size, ORDERS + 1, 'each exactly once');
      assert.ok(got.includes('direct'));
      assert.ok(!got.includes('later'), 'the cancelled one is not sent');
    }
  } finally {
    for (const c of clients) await c.end();
    for (let i = 0; i < CLIENTS; i++) await db.query('SELECT webpush_unsubscribe_user($1)', [`pooled-${i}`]);
  }
});
