'use strict';
// Shared set-up for the end-to-end tests: the loopback push service with the
// test CA's certificate, connections to the throwaway cluster that
// test/run.sh started (PGHOST, PGPORT; WEBPUSH_TEST_TLS holds the CA), the
// session a file's tests share, waiting for a condition, the server log, and
// loopback servers that never answer.  Each file runs alone too: what it
// needs (the extension, a key, a role, a setting) it makes itself.

const fs = require('node:fs');
const http2 = require('node:http2');
const net = require('node:net');
const path = require('node:path');
const { execFile, execFileSync } = require('node:child_process');
const { Client } = require('pg');
const { PushService } = require('../push-service');

const tls = process.env.WEBPUSH_TEST_TLS;
if (!tls) throw new Error('WEBPUSH_TEST_TLS is not set: run the tests through test/run.sh');
const caFile = path.join(tls, 'ca.pem');
// Under valgrind (scripts/test.sh --valgrind) everything is ~20x slower, under
// ASan a few times: time limits in the tests scale by WEBPUSH_TEST_SLOW.
const SLOW = Number(process.env.WEBPUSH_TEST_SLOW) || 1;

// A push service on loopback with the test CA's certificate; setup(service)
// runs before it listens (HTTP/2 SETTINGS, GOAWAYs).
async function startService(setup = () => {}) {
  const service = new PushService();
  setup(service);
  await service.start({
    key: fs.readFileSync(path.join(tls, 'server.key')),
    cert: fs.readFileSync(path.join(tls, 'server.pem')),
  });
  return service;
}

// A connection to the test cluster, as the test user or as another role.
async function connect(database = 'postgres', user = undefined) {
  const client = new Client({ host: process.env.PGHOST, port: Number(process.env.PGPORT), database, user });
  await client.connect();
  return client;
}

// A login role made afresh (dropped first if an earlier run left it), a
// member of the roles in memberOf.
async function createRole(db, name, memberOf = []) {
  await db.query(`DROP ROLE IF EXISTS ${name}`);
  await db.query(`CREATE ROLE ${name} LOGIN${memberOf.length ? ` IN ROLE ${memberOf.join(', ')}` : ''}`);
}

// An empty database of that name, dropped first if it exists.
async function recreateDatabase(db, name) {
  await db.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await db.query(`CREATE DATABASE ${name}`);
}

// The extension and the default application's key in db, where a file that
// runs alone finds neither.
async function installExtension(db) {
  await db.query('CREATE EXTENSION IF NOT EXISTS webpush');
  await db.query('SELECT webpush_keys()');
}

// A fresh database with the extension, and a session set up to reach the
// loopback push service: trust the test CA, allow loopback, set a contact.
async function freshDatabase(name) {
  const admin = await connect();
  await recreateDatabase(admin, name);
  await admin.end();
  const db = await connect(name);
  await db.query('CREATE EXTENSION webpush');
  await configure(db);
  return db;
}

// Session settings to reach the loopback push service.
async function configure(db) {
  await db.query(`SET webpush.ca_file = '${caFile}'`);
  await db.query('SET webpush.allow_private_endpoints = on');
  await db.query("SET webpush.allowed_ports = '*'");
  await db.query("SET webpush.subject = 'mailto:ops@example.com'");
}

// Runs a query expected to fail; returns the error.
async function expectError(db, sql, params) {
  try {
    await db.query(sql, params);
  } catch (err) {
    return err;
  }
  throw new Error(`expected an error from: ${sql}`);
}

// A connection, waiting for the server to accept one: after a crash the
// postmaster restarts every backend, and that takes a moment.
async function connectRetrying(database = 'postgres') {
  for (let i = 0; i < 300; i++) {
    try {
      const client = await connect(database);
      client.on('error', () => {});
      return client;
    } catch (e) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('the server did not come back');
}

const CONNECTION_LOST = /terminat|not queryable|ECONNRESET|EPIPE|ECONNREFUSED|ENOENT|shut down|starting up|recovery|closed the connection|Connection terminated/;

// Polls fn until it returns something truthy (conditions, not sleeps, are
// what tests wait on).  When the connection is lost, reconnect() is called
// (without one, the wait fails).
async function until(what, fn, reconnect, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs * SLOW;
  for (;;) {
    try {
      const result = await fn();
      if (result) return result;
    } catch (e) {
      if (!CONNECTION_LOST.test(e.message) || !reconnect) throw e;
      await reconnect();
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Applies settings with ALTER SYSTEM (null resets one), restarts the server
// (they may be restart-only), and returns a new connection in place of db
// (a Session connects again and is returned).
async function restartWith(db, settings) {
  for (const [name, value] of Object.entries(settings)) {
    await db.query(value === null ? `ALTER SYSTEM RESET ${name}` : `ALTER SYSTEM SET ${name} = '${value}'`);
  }
  await db.end();
  pgCtl('restart', '-m', 'fast', '-w', '-l', process.env.WEBPUSH_TEST_LOG);
  if (db instanceof Session) return db.connect();
  return connectRetrying();
}

// A string as an SQL literal.
const sqlLiteral = (s) => `'${String(s).replace(/'/g, "''")}'`;

// Runs an SQL script through psql as a reader would, stopping at the first
// error: its output (unaligned, tuples only), or a rejection with stderr.
// Asynchronous, so that a push service in this process answers meanwhile.
function psql(database, script) {
  return new Promise((resolve, reject) => {
    const child = execFile('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', database],
      { encoding: 'utf8', env: process.env }, (err, stdout, stderr) => {
        if (err) reject(Object.assign(err, { stderr })); else resolve(stdout);
      });
    child.stdin.end(script);
  });
}

// pg_ctl on the test cluster (PGDATA), its output discarded.
function pgCtl(...args) {
  execFileSync('pg_ctl', args, { stdio: 'ignore' });
}

// Starts the test cluster again, logging where test/run.sh logs it.
function startServer() {
  pgCtl('start', '-w', '-l', process.env.WEBPUSH_TEST_LOG);
}

// The connection a file's tests share (to "postgres" unless told), kept in
// one object so that helpers and tests see the same one after a restart.
// With { reconnect: true } until() makes a connection lost to a crash or a
// restart again and goes on waiting; without, a lost connection fails it.
class Session {
  constructor(database = 'postgres', { reconnect = false } = {}) {
    this.database = database;
    this.reconnects = reconnect;
    this.client = null;
    // Bound, so that a file can take them as functions of its own.
    this.value = this.value.bind(this);
    this.until = this.until.bind(this);
  }

  // (Re)connects, waiting for the server to accept connections.
  async connect() {
    this.client = await connectRetrying(this.database);
    return this;
  }

  query(sql, params) { return this.client.query(sql, params); }

  on(event, fn) { return this.client.on(event, fn); }

  removeAllListeners(event) { return this.client.removeAllListeners(event); }

  end() { return this.client.end(); }

  // The first column of the first row (undefined when there is no row).
  async value(sql, params) {
    const { rows } = await this.client.query(sql, params);
    return rows[0] && Object.values(rows[0])[0];
  }

  // until(), reconnecting this session if it was made with { reconnect: true }.
  until(what, fn, timeoutMs) {
    return until(what, fn, this.reconnects ? () => this.connect() : null, timeoutMs);
  }
}

// The start of most files' before(): the push service, and db connected
// with the extension and the default key.  Returns the service.
async function setUpFile(db) {
  const service = await startService();
  await installExtension(await db.connect());
  return service;
}

// The end of most files' after(): db closed (a connection a crash ended
// has nothing to close) and the push service stopped.
async function tearDownFile(db, service) {
  await db.end().catch(() => {});
  await service.stop();
}

// Stores a subscription object (for userId, or none): its id.
async function storeSubscription(db, subscription, userId = null) {
  const { rows } = await db.query('SELECT webpush_subscribe($1, $2) AS id', [subscription, userId]);
  return rows[0].id;
}

// A new subscription of the push service, stored for userId (or none): the
// subscription object with its id.
async function newSubscriber(db, service, userId = null) {
  const subscription = service.subscribe();
  return { ...subscription, id: await storeSubscription(db, subscription, userId) };
}

// n new subscriptions of the push service, stored without a user.
async function newSubscribers(db, service, n) {
  const subs = [];
  for (let i = 0; i < n; i++) subs.push(await newSubscriber(db, service));
  return subs;
}

// The pids of the webpush workers (of one database, or all), in order.
async function workerPids(db, database = null) {
  const { rows } = await db.query(`SELECT pid FROM pg_stat_activity
    WHERE backend_type = 'webpush worker' AND ($1::name IS NULL OR datname = $1) ORDER BY pid`, [database]);
  return rows.map((r) => r.pid);
}

// How often the workers serving "postgres" have been woken.
async function workerWakeups(db) {
  const { rows } = await db.query("SELECT coalesce(sum(wakeups), 0) AS n FROM webpush_workers() WHERE database = 'postgres'");
  return Number(rows[0].n);
}

// Reloads the configuration and waits until the worker has been woken by
// it: the worker reads a pending reload before it claims anything again.
async function reloadWorker(db) {
  const before = await workerWakeups(db);
  await db.query('SELECT pg_reload_conf()');
  await db.until('the worker to see the reload', async () => (await workerWakeups(db)) > before);
}

// The server log from now on: text() is what was written since, count(re)
// the matches of a global RegExp in it, and flushed(db) waits until a line
// logged now is in the file (so that all logged before it is too).
function serverLog() {
  const file = process.env.WEBPUSH_TEST_LOG;
  const offset = fs.statSync(file).size;
  const text = () => fs.readFileSync(file).subarray(offset).toString('utf8');
  return {
    text,
    count: (pattern) => (text().match(pattern) || []).length,
    async flushed(db) {
      const marker = `webpush test marker ${process.pid}-${Date.now()}`;
      await db.query(`DO $$ BEGIN RAISE LOG '${marker}'; END $$`);
      await until('the log to be written', async () => text().includes(marker), null);
    },
  };
}

// Listens on a loopback port, tracking every connection from its first
// byte: server.port, and server.shutdown(), which ends them all (one that
// arrives meanwhile too: close() would wait for it) and closes.
async function listenOnLoopback(server) {
  const sockets = new Set();
  let stopping = false;
  server.on('connection', (sock) => {
    if (stopping) { sock.destroy(); return; }
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.port = server.address().port;
  server.shutdown = async () => {
    stopping = true;
    const closed = new Promise((resolve) => server.close(resolve));
    for (const s of sockets) s.destroy();
    await closed;
  };
  return server;
}

// An HTTPS (HTTP/2) server on loopback with a certificate of the test CA
// ('server' names localhost, 'other' another host); handler answers, or not.
function http2Server({ cert = 'server', handler = () => {}, allowHTTP1 = true } = {}) {
  return listenOnLoopback(http2.createSecureServer({
    key: fs.readFileSync(path.join(tls, `${cert}.key`)),
    cert: fs.readFileSync(path.join(tls, `${cert}.pem`)),
    allowHTTP1,
  }, handler));
}

// A TCP server on loopback that accepts and never says a word (no TLS).
function silentTcpServer() {
  return listenOnLoopback(net.createServer());
}

// LISTEN on a channel from a connection of its own: the notifications
// received, and a wait for one that matches.
async function listen(database, channel) {
  const client = await connect(database);
  const notes = [];
  client.on('notification', (n) => { if (n.channel === channel) notes.push(JSON.parse(n.payload)); });
  await client.query(`LISTEN ${channel}`);
  return {
    notes,
    async waitFor(pred, timeoutMs = 10000 * SLOW) {
      const deadline = Date.now() + timeoutMs;
      while (!notes.some(pred)) {
        if (Date.now() > deadline) throw new Error(`no ${channel} notification matched; got ${JSON.stringify(notes)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return notes.filter(pred);
    },
    end: () => client.end(),
  };
}

module.exports = {
  listen, restartWith, pgCtl, startServer, connectRetrying, until, startService, connect, freshDatabase, configure,
  expectError, caFile, SLOW, createRole, recreateDatabase, installExtension, Session, setUpFile, tearDownFile,
  storeSubscription, newSubscriber, newSubscribers, workerPids, workerWakeups, reloadWorker, serverLog,
  listenOnLoopback, http2Server, silentTcpServer, sqlLiteral, psql,
};
