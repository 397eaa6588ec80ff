'use strict';
// Push services that never answer, several at once, hold only a bounded part
// of the worker's room in flight: a push service that answers gets its
// notifications out at once, while the silent ones' requests wait for
// webpush.timeout and while they are retried (docs/delivery.md, "Concurrent
// HTTP/2").
//
// Anyone who may store a subscription chooses the host its notifications go
// to, so these silent hosts are what an attacker can set up at no cost:
// three HTTP/2 servers on loopback that complete TLS and SETTINGS and never
// answer a stream, and a TCP server that accepts and never speaks TLS.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startService, SLOW, Session, installExtension, storeSubscription, reloadWorker, http2Server, silentTcpServer,
} = require('./helpers');

// Long enough that waiting for it shows: every healthy delivery below must
// arrive in a small part of it.
const TIMEOUT_S = 30 * SLOW;
const PROMPT_MS = 4000 * SLOW;

const db = new Session('postgres', { reconnect: true });
const { until, value } = db;
const subscribe = (sub) => storeSubscription(db, sub);
let healthy;
let silent = [];
let tcpSilent;
const silentIds = [];

// An HTTP/2 server that takes requests and never answers them.  It counts
// the streams open now, the most ever open at once across all silent
// servers (silentPeak), and every stream it received.
let silentPeak = 0;
const openNow = () => silent.reduce((n, s) => n + s.open, 0);

async function silentHttp2() {
  const server = await http2Server({ allowHTTP1: false });
  server.open = 0;
  server.received = 0;
  server.on('stream', (stream) => {
    server.open++;
    server.received++;
    silentPeak = Math.max(silentPeak, openNow());
    stream.on('close', () => { server.open--; });
    stream.on('error', () => {});
  });
  return server;
}

// Sends n notifications to a push service that answers and returns how long
// they took to arrive, in ms (failing if that is not soon).
async function sendHealthy(service, label, n = 20) {
  const sub = service.subscribe();
  const id = await subscribe(sub);
  const started = Date.now();
  await db.query("SELECT webpush_send($1::bigint, jsonb_build_object('title', $2 || ' ' || i)) FROM generate_series(1, $3) i",
    [id, label, n]);
  // Waits past webpush.timeout, so that a failure says how long it took.
  await service.waitFor(() => service.received(sub.endpoint).length === n, (TIMEOUT_S + 15) * 1000);
  const took = Date.now() - started;
  console.log(`# ${label}: ${n} delivered in ${took} ms (webpush.timeout ${TIMEOUT_S} s), silent hosts hold ${openNow()} streams`);
  assert.ok(took < PROMPT_MS, `${label}: the healthy push service waited ${took} ms`);
  const payloads = service.received(sub.endpoint).map((m) => JSON.parse(m.payload).title).sort();
  assert.deepEqual(payloads, Array.from({ length: n }, (_, i) => `${label} ${i + 1}`).sort(), 'each once');
  // Arrived is not yet answered: the push service may stop only once the
  // worker has recorded every answer.
  await until(`${label}: recorded as delivered`, async () => Number(await value(
    "SELECT count(*) FROM webpush.history WHERE subscription_id = $1 AND outcome = 'delivered'", [id])) === n);
  return took;
}

before(async () => {
  await installExtension(await db.connect());
  await db.query(`ALTER SYSTEM SET webpush.timeout = '${TIMEOUT_S}s'`);
  await reloadWorker(db);
  healthy = await startService();
  silent = [await silentHttp2(), await silentHttp2(), await silentHttp2()];
  tcpSilent = await silentTcpServer();
});

after(async () => {
  if (silentIds.length) {
    await db.query('DELETE FROM webpush.deliveries WHERE subscription_id = ANY($1)', [silentIds]);
    await db.query('DELETE FROM webpush.subscriptions WHERE id = ANY($1)', [silentIds]);
  }
  await db.query('ALTER SYSTEM RESET webpush.timeout');
  await reloadWorker(db);
  await db.end();
  for (const s of [...silent, tcpSilent]) await s.shutdown();
  await healthy.stop();
});

test('what went back while quiet hosts held their share goes out as soon as one answers, not after webpush.timeout', async () => {
  // webpush.max_in_flight = 10: hosts that have not answered yet share 5,
  // and one more is for a host's first request.  Host a takes the 5 and
  // holds them, host b the one more; host c's first request finds no room
  // and goes back for webpush.timeout, until a's answers make room.
  await db.query('ALTER SYSTEM SET webpush.max_in_flight = 10');
  await reloadWorker(db);
  const [a, b, c] = [await startService(), await startService(), await startService()];
  try {
    const holdMs = 2500 * SLOW;
    const [subA, subB, subC] = [a.subscribe(), b.subscribe(), c.subscribe()];
    const [idA, idB, idC] = [await subscribe(subA), await subscribe(subB), await subscribe(subC)];
    a.respond(subA.endpoint, ...Array.from({ length: 5 }, () => ({ status: 201, delayMs: holdMs })));
    b.respond(subB.endpoint, { status: 201, delayMs: holdMs });
    const t0 = Date.now();
    await db.query("SELECT webpush_send($1::bigint, 'held ' || i) FROM generate_series(1, 5) i", [idA]);
    await a.waitFor(() => a.received(subA.endpoint).length === 5);
    await db.query("SELECT webpush_send($1::bigint, 'first request')", [idB]);
    await b.waitFor(() => b.received(subB.endpoint).length === 1);
    await db.query("SELECT webpush_send($1::bigint, 'waiting')", [idC]);
    await until('the waiting one sent back for webpush.timeout', async () => Number(await value(
      "SELECT count(*) FROM webpush.deliveries WHERE subscription_id = $1 AND claimed_by IS NULL AND next_attempt_at > now() + interval '10 s'",
      [idC])) === 1, holdMs);
    await c.waitFor(() => c.received(subC.endpoint).length === 1, (TIMEOUT_S + 15) * 1000);
    const took = Date.now() - t0;
    assert.ok(took < holdMs + 3000 * SLOW, `the waiting one went ${took} ms after the first send, before webpush.timeout (${TIMEOUT_S} s)`);
    await until('all seven recorded as delivered', async () => Number(await value(
      "SELECT count(*) FROM webpush.history WHERE subscription_id = ANY ($1) AND outcome = 'delivered'", [[idA, idB, idC]])) === 7);
    assert.equal(a.received(subA.endpoint).length, 5);
    assert.equal(b.received(subB.endpoint).length, 1);
    assert.equal(c.received(subC.endpoint).length, 1);
  } finally {
    await db.query('ALTER SYSTEM RESET webpush.max_in_flight');
    await reloadWorker(db);
    for (const s of [a, b, c]) await s.stop();
  }
});

test('four silent hosts: a push service that answers is served at once, also while they are retried', async () => {
  const maxInFlight = Number(await value("SELECT current_setting('webpush.max_in_flight')"));
  // Hosts that do not answer share half of webpush.max_in_flight, and a
  // tenth more for the first request of each host with nothing in flight.
  const quietBound = Math.floor(maxInFlight / 2) + Math.floor(maxInFlight / 10);

  // Four subscriptions on each silent host, 60 notifications each: far
  // more than the worker's room, queued before anything for the healthy one.
  const silentOrigins = [...silent.map((s) => s.port), tcpSilent.port];
  for (const port of silentOrigins) {
    for (let i = 0; i < 4; i++) {
      const s = healthy.subscribe();
      silentIds.push(await subscribe({ ...s, endpoint: `https://127.0.0.1:${port}/push/${i}` }));
    }
  }
  await db.query(`SELECT webpush_send(s, jsonb_build_object('title', 'stuck ' || i))
    FROM generate_series(1, 60) i, unnest($1::bigint[]) s`, [silentIds]);
  await until('the silent hosts to hold requests', async () => openNow() >= 50);

  // A push service the worker has not heard from yet ...
  await sendHealthy(healthy, 'first');
  // ... and, now that it has answered, again.
  await sendHealthy(healthy, 'again');
  const firstWave = silent.reduce((n, s) => n + s.received, 0);
  assert.ok(silentPeak <= quietBound,
    `the silent hosts held ${silentPeak} requests at once, more than ${quietBound} of ${maxInFlight}`);

  // The silent hosts' requests time out and are sent again.
  await until('the silent hosts to be retried', async () =>
    silent.reduce((n, s) => n + s.received, 0) > firstWave && openNow() >= 50 &&
    Number(await value('SELECT count(*) FROM webpush.deliveries WHERE subscription_id = ANY($1) AND attempts >= 2',
      [silentIds])) > 0, (TIMEOUT_S + 20) * 1000);
  await sendHealthy(healthy, 'during retries');
  // A second push service, new to the worker, while the retries hold their share.
  const newcomer = await startService();
  try {
    await sendHealthy(newcomer, 'newcomer during retries');
  } finally {
    await newcomer.stop();
  }
  assert.ok(silentPeak <= quietBound,
    `the silent hosts held ${silentPeak} requests at once, more than ${quietBound} of ${maxInFlight}`);
  assert.deepEqual(healthy.problems, []);
});
