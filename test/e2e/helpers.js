'use strict';
// Shared set-up for the end-to-end tests: the loopback push service with the
// test CA's certificate, and connections to the throwaway cluster that
// test/run.sh started (PGHOST, PGPORT; WEBPUSH_TEST_TLS holds the CA).

const fs = require('node:fs');
const path = require('node:path');
const { Client } = require('pg');
const { PushService } = require('../push-service');

const tls = process.env.WEBPUSH_TEST_TLS;
if (!tls) throw new Error('WEBPUSH_TEST_TLS is not set: run the tests through test/run.sh');
const caFile = path.join(tls, 'ca.pem');
// Under valgrind (scripts/test.sh --valgrind) everything is ~20x slower, under
// ASan a few times: time limits in the tests scale by WEBPUSH_TEST_SLOW.
const SLOW = Number(process.env.WEBPUSH_TEST_SLOW) || 1;

async function startService() {
  const service = new PushService();
  await service.start({
    key: fs.readFileSync(path.join(tls, 'server.key')),
    cert: fs.readFileSync(path.join(tls, 'server.pem')),
  });
  return service;
}

async function connect(database = 'postgres') {
  const client = new Client({ host: process.env.PGHOST, port: Number(process.env.PGPORT), database });
  await client.connect();
  return client;
}

// A fresh database with the extension, and a session set up to reach the
// loopback push service: trust the test CA, allow loopback, set a contact.
async function freshDatabase(name) {
  const admin = await connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const db = await connect(name);
  await db.query('CREATE EXTENSION webpush');
  await configure(db);
  return db;
}

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
// what tests wait on).  When the connection is lost, reconnect() is called.
async function until(what, fn, reconnect, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs * SLOW;
  for (;;) {
    try {
      const result = await fn();
      if (result) return result;
    } catch (e) {
      if (!CONNECTION_LOST.test(e.message)) throw e;
      await reconnect();
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Applies settings with ALTER SYSTEM (null resets one), restarts the server
// (they may be restart-only), and returns a new connection in place of db.
async function restartWith(db, settings) {
  for (const [name, value] of Object.entries(settings)) {
    await db.query(value === null ? `ALTER SYSTEM RESET ${name}` : `ALTER SYSTEM SET ${name} = '${value}'`);
  }
  await db.end();
  require('node:child_process').execFileSync('pg_ctl',
    ['restart', '-m', 'fast', '-w', '-l', process.env.WEBPUSH_TEST_LOG], { stdio: 'ignore' });
  return connectRetrying();
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

module.exports = { listen, restartWith, connectRetrying, until, startService, connect, freshDatabase, configure, expectError, caFile, SLOW };
