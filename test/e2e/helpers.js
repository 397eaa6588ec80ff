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
// Under valgrind (scripts/test.sh --valgrind) everything is ~20x slower:
// time limits in the tests scale by this.
const SLOW = process.env.WEBPUSH_TEST_SLOW ? 20 : 1;

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

module.exports = { startService, connect, freshDatabase, configure, expectError, caFile, SLOW };
