'use strict';
// Randomised hostile input through the server: mutated subscription objects
// into webpush_subscribe (the JSON validation lives on jsonb, so it is
// fuzzed here rather than under libFuzzer), and random Retry-After headers
// into the worker (libcurl parses them).  Every case must either succeed or
// fail with a user-facing SQLSTATE; the backend and the worker must survive;
// failed calls must store nothing.
//
//   FUZZ_CASES=20000 FUZZ_SEED=42 run more, or reproduce a seed.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { setUpFile, tearDownFile, Session, storeSubscription, workerPids } = require('./helpers');

const CASES = Number(process.env.FUZZ_CASES || 2000);
const SEED = Number(process.env.FUZZ_SEED || Date.now() % 1000000);
const ALLOWED = new Set(['22023', '22004', '54000']);

let service;
const db = new Session('postgres', { reconnect: true });
const { until } = db;

// A small deterministic PRNG (mulberry32), so a seed reproduces a run.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

before(async () => {
  service = await setUpFile(db);
});

after(() => tearDownFile(db, service));

test(`${CASES} mutated subscription objects: a clean error or success, never a crash`, async () => {
  const rand = rng(SEED);
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const randBytes = (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
  const randString = (n) => Array.from({ length: n }, () => String.fromCharCode(1 + Math.floor(rand() * 0x2fff))).join('');
  const valid = service.subscribe();
  const values = () => pick([
    null, true, 0, -1, 1e308, 3.5, '', 'x', [], {}, [1, 2], { a: { b: { c: [] } } },
    randString(Math.floor(rand() * 50)), 'x'.repeat(Math.floor(rand() * 5000)),
    randBytes(65).toString('base64url'), randBytes(65).toString('base64'),
    Buffer.concat([Buffer.from([4]), randBytes(64)]).toString('base64url'),
    Buffer.concat([Buffer.from([2]), randBytes(32)]).toString('base64url'),
    randBytes(16).toString('base64url'), randBytes(Math.floor(rand() * 40)).toString('base64url'),
    `https://${randString(5)}/x`, `https://push.example.com/${randString(20)}`,
    'https://10.0.0.1/x', 'https://[::1]/x', 'https://user@push.example.com/', 'http://push.example.com/x',
    `https://push.example.com/${'a'.repeat(2040)}`, 'https://push.example.com:99999/x',
    'https://%00/x', 'https://push.example.com\\@evil.com/x', 'https:push.example.com',
  ]);
  const stats = { ok: 0, rejected: 0 };
  const stored = new Set();
  const before = Number((await db.query('SELECT count(*) AS n FROM webpush.subscriptions')).rows[0].n);

  for (let i = 0; i < CASES; i++) {
    const sub = JSON.parse(JSON.stringify(valid));
    sub.endpoint = `${valid.endpoint}-${i}`;
    const mutations = 1 + Math.floor(rand() * 3);
    for (let m = 0; m < mutations; m++) {
      const where = pick(['endpoint', 'expirationTime', 'keys', 'keys.p256dh', 'keys.auth', 'extra', 'delete', 'root']);
      if (where === 'delete') delete sub[pick(['endpoint', 'keys', 'expirationTime'])];
      else if (where === 'root') { sub.keys = sub.keys && typeof sub.keys === 'object' ? sub.keys : {}; sub.keys[pick(['p256dh', 'auth'])] = values(); }
      else if (where.startsWith('keys.')) { if (sub.keys && typeof sub.keys === 'object' && !Array.isArray(sub.keys)) sub.keys[where.slice(5)] = values(); }
      else if (where === 'extra') sub[randString(3)] = values();
      else sub[where] = values();
    }
    const input = rand() < 0.05 ? pick([[sub], 'text', 42, null]) : sub;
    try {
      await db.query('SELECT webpush_subscribe($1::jsonb)', [JSON.stringify(input)]);
      stats.ok++;
      stored.add(input.endpoint);
    } catch (e) {
      assert.ok(ALLOWED.has(e.code), `case ${i} (seed ${SEED}): SQLSTATE ${e.code} ${e.message} for ${JSON.stringify(input).slice(0, 300)}`);
      assert.ok(e.message.length > 0);
      stats.rejected++;
    }
  }
  const afterCount = Number((await db.query('SELECT count(*) AS n FROM webpush.subscriptions')).rows[0].n);
  assert.equal(afterCount - before, stored.size, 'only accepted subscriptions were stored');
  console.log(`# subscription fuzz (seed ${SEED}): ${CASES} cases, ${stats.ok} accepted, ${stats.rejected} refused with a clean error`);
  await db.query('DELETE FROM webpush.subscriptions WHERE endpoint = ANY($1)', [[...stored]]);
});

test('random Retry-After headers: the worker survives and every message ends', async () => {
  const rand = rng(SEED + 1);
  const headers = [
    '0', '-1', '1', '2', '999999999999999999999', 'soon', '', ' 1 ', '1.5', '0x10', '1e3',
    new Date(Date.now() - 86400000).toUTCString(), new Date(Date.now() + 1000).toUTCString(),
    'Wed, 31 Dec 1969 23:59:59 GMT', 'Fri, 31 Dec 9999 23:59:59 GMT', 'x'.repeat(5000),
    String(Math.floor(rand() * 4)), '\u00ff\u00fe',
  ];
  const pid = await until('the worker', async () => (await workerPids(db))[0]);
  const ids = [];
  for (const value of headers) {
    const s = service.subscribe();
    const id = await storeSubscription(db, s);
    let header = value;
    // Node refuses to send some values; those become an absent header.
    try { require('node:http').validateHeaderValue('retry-after', value); } catch (e) { header = undefined; }
    service.respond(s.endpoint, { status: 429, headers: header === undefined ? {} : { 'retry-after': header } });
    await db.query('SELECT webpush_send($1::bigint, $2, ttl => 8)', [id, `ra ${value.slice(0, 20)}`]);
    ids.push(id);
  }
  await until('every message delivered or expired', async () =>
    Number((await db.query('SELECT count(*) AS n FROM webpush.history WHERE subscription_id = ANY($1)', [ids])).rows[0].n) === ids.length,
  30000);
  const { rows } = await db.query(
    'SELECT outcome, count(*)::int AS n FROM webpush.history WHERE subscription_id = ANY($1) GROUP BY 1 ORDER BY 1', [ids]);
  console.log(`# Retry-After fuzz: ${headers.length} headers, outcomes ${JSON.stringify(rows)}`);
  assert.ok(rows.every((r) => r.outcome === 'delivered' || r.outcome === 'expired'));
  assert.deepEqual(await workerPids(db), [pid], 'the worker never restarted');
});
