'use strict';
// The worker's HTTP/2 connections between notifications: one left idle for
// webpush.http_idle_timeout is closed with a GOAWAY; one that has been quiet
// is checked with a PING before a notification goes on it, and when no ACK
// comes (a NAT that forgot the flow, a push service gone silent) the
// notification goes out once, on a new connection.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { startService, connectRetrying, until: waitUntil, SLOW } = require('./helpers');

let service;
let db;

async function reconnect() {
  db = await connectRetrying('postgres');
}

function until(what, fn, timeoutMs) {
  return waitUntil(what, fn, reconnect, timeoutMs);
}

async function value(sql, params) {
  const { rows } = await db.query(sql, params);
  return Object.values(rows[0])[0];
}

async function wakeups() {
  return Number(await value("SELECT coalesce(sum(wakeups), 0) FROM webpush_workers() WHERE database = 'postgres'"));
}

// Set webpush.http_idle_timeout and wait until the worker has been woken by
// the reload (it applies settings at the start of its next turn).
async function setIdleTimeout(setting) {
  await db.query(setting === null ? 'ALTER SYSTEM RESET webpush.http_idle_timeout'
    : `ALTER SYSTEM SET webpush.http_idle_timeout = '${setting}'`);
  const woken = await wakeups();
  await db.query('SELECT pg_reload_conf()');
  await until('the worker to see the reload', async () => (await wakeups()) > woken);
}

// The push service's HTTP/2 sessions from now on: when each began, the
// GOAWAY it received (its error code), and when it closed.
function watchSessions() {
  const seen = [];
  const onSession = (s) => {
    const entry = { openedAt: Date.now(), goaway: null, closedAt: null };
    seen.push(entry);
    s.on('goaway', (code) => { entry.goaway = code; });
    s.on('close', () => { entry.closedAt = Date.now(); });
  };
  service.server.on('session', onSession);
  seen.stop = () => service.server.off('session', onSession);
  return seen;
}

// A TCP proxy in front of the push service that can black-hole the
// connections it carries: their bytes are then dropped in both directions,
// and the sockets stay open, as behind a NAT that forgot the flow.
// Connections made after that go through.
async function startProxy(port) {
  const pairs = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    const pair = { client, upstream, dead: false };
    pairs.push(pair);
    client.on('data', (d) => { if (!pair.dead) upstream.write(d); });
    upstream.on('data', (d) => { if (!pair.dead) client.write(d); });
    for (const [a, b] of [[client, upstream], [upstream, client]]) {
      a.on('error', () => {});
      a.on('close', () => b.destroy());
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    connections: () => pairs.length,
    blackHole() { for (const p of pairs) p.dead = true; },
    async stop() {
      for (const p of pairs) { p.client.destroy(); p.upstream.destroy(); }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// A subscription at svc, its endpoint at svc.origin (which a proxy may hold).
async function subscribe(svc = service) {
  const sub = svc.subscribe();
  sub.endpoint = svc.origin + new URL(sub.endpoint).pathname;
  return { ...sub, id: await value('SELECT webpush_subscribe($1)', [sub]) };
}

function payloads(sub, svc = service) {
  return svc.received(sub.endpoint).filter((m) => m.status === 201).map((m) => String(m.payload));
}

before(async () => {
  service = await startService();
  await reconnect();
  await db.query('CREATE EXTENSION IF NOT EXISTS webpush');
  await db.query('SELECT webpush_keys()');
});

after(async () => {
  await setIdleTimeout(null).catch(() => {});
  await db.end().catch(() => {});
  await service.stop().catch(() => {});
});

test('a connection idle for webpush.http_idle_timeout is closed with GOAWAY NO_ERROR; the next notification opens a new one', async () => {
  await setIdleTimeout('2s');
  const sessions = watchSessions();
  try {
    const sub = await subscribe();
    await db.query("SELECT webpush_send($1::bigint, 'idle-1'::text)", [sub.id]);
    await service.waitFor(() => payloads(sub).includes('idle-1'), 10000);
    const answeredAt = Date.now();
    assert.equal(sessions.length, 1, 'one connection carried it');

    await until('the idle connection to be closed', async () => sessions[0].closedAt !== null, 10000);
    const idleMs = sessions[0].closedAt - answeredAt;
    console.log(`# idle connection closed ${idleMs} ms after its last answer (timeout 2000 ms), GOAWAY code ${sessions[0].goaway}`);
    assert.equal(sessions[0].goaway, 0, 'a GOAWAY with NO_ERROR came before the close');
    assert.ok(idleMs >= 1500, `closed after ${idleMs} ms, before it was idle for 2 s`);
    assert.ok(idleMs <= 5000 * SLOW, `closed only after ${idleMs} ms`);

    await db.query("SELECT webpush_send($1::bigint, 'idle-2'::text)", [sub.id]);
    await service.waitFor(() => payloads(sub).includes('idle-2'), 10000);
    assert.equal(sessions.length, 2, 'the next notification went on a new connection');
    assert.deepEqual(payloads(sub), ['idle-1', 'idle-2']);
  } finally {
    sessions.stop();
  }
});

test('a connection black-holed after a quiet spell: the next notification is sent once, on a new connection, within the PING bound', async () => {
  // A PING after 5 s without a frame (half the idle timeout); its ACK is
  // awaited 3 s.
  await setIdleTimeout('10s');
  // A push service of its own, reached through the proxy: the VAPID
  // audience is the origin the worker connects to, the proxy's.
  const behind = await startService();
  const proxy = await startProxy(behind.port);
  behind.origin = `https://localhost:${proxy.port}`;
  try {
    const sub = await subscribe(behind);
    await db.query("SELECT webpush_send($1::bigint, 'quiet-1'::text)", [sub.id]);
    await behind.waitFor(() => payloads(sub, behind).includes('quiet-1'), 10000);
    const answeredAt = Date.now();
    assert.equal(proxy.connections(), 1);

    // Quiet for longer than 5 s, idle for less than 10 s: the connection is
    // kept, and is now suspect.  Then it goes dark without a word.
    await new Promise((r) => setTimeout(r, Math.max(0, answeredAt + 6000 - Date.now())));
    proxy.blackHole();
    const sentAt = Date.now();
    await db.query("SELECT webpush_send($1::bigint, 'quiet-2'::text)", [sub.id]);
    await behind.waitFor(() => payloads(sub, behind).includes('quiet-2'), 15000);
    const tookMs = Date.now() - sentAt;
    console.log(`# after a black hole: delivered in ${tookMs} ms on connection ${proxy.connections()} (PING ACK awaited 3000 ms)`);

    assert.equal(proxy.connections(), 2, 'it went on a new connection');
    assert.ok(tookMs < 8000 * SLOW, `delivered after ${tookMs} ms, not within the PING bound`);
    assert.ok(tookMs >= 2500, `delivered after ${tookMs} ms: the old connection was not even tried with a PING`);
    assert.deepEqual(payloads(sub, behind), ['quiet-1', 'quiet-2'], 'each notification arrived once');
    await until('both recorded', async () =>
      Number(await value("SELECT count(*) FROM webpush.history WHERE subscription_id = $1 AND outcome = 'delivered'", [sub.id])) === 2);
    assert.equal(Number(await value('SELECT max(attempts) FROM webpush.history WHERE subscription_id = $1', [sub.id])), 1,
      'no attempt was spent on the dead connection');
  } finally {
    await proxy.stop();
    await behind.stop();
  }
});
