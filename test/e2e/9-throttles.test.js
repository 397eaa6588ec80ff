'use strict';
// Rates: webpush.host_rates holds a push service host to its rate, with a
// burst; webpush_application_rate an application; a 406 (WNS) or 429 with
// Retry-After pauses the host until then, after which it resumes at half
// its rate.  The push service's receive times are the measure.
// The host rate's run lasts a minute (WEBPUSH_THROTTLE_SECONDS sets
// another length, e.g. 10 for a quick run).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { setUpFile, tearDownFile, reloadWorker, storeSubscription, SLOW, Session } = require('./helpers');

const RUN_SECONDS = Number(process.env.WEBPUSH_THROTTLE_SECONDS) || 60;

let service;
const db = new Session();
const { until, value } = db;

before(async () => {
  service = await setUpFile(db);
});

// webpush.host_rates set (null: reset), once the worker has seen it.
async function setHostRates(rates) {
  await db.query(rates === null ? 'ALTER SYSTEM RESET webpush.host_rates'
    : `ALTER SYSTEM SET webpush.host_rates = '${rates}'`);
  await reloadWorker(db);
}

after(async () => {
  await setHostRates(null);
  await db.query("SELECT webpush_application_rate('default', NULL)");
  await tearDownFile(db, service);
});

// n notifications to one subscription, queued in one transaction; their
// payloads are tag-1 .. tag-n.
async function queue(id, n, tag) {
  await db.query("SELECT webpush_send($1::bigint, $2 || '-' || g) FROM generate_series(1, $3) g", [id, tag, n]);
}

// The receive times of the notifications tagged tag, in order.
function arrivals(sub, tag) {
  return service.received(sub.endpoint)
    .filter((m) => m.payload && m.payload.toString().startsWith(`${tag}-`))
    .map((m) => m.receivedAt);
}

// webpush.counters.throttled of a host (as the counters name it: no port).
async function throttledCount(host) {
  return Number(await value('SELECT coalesce(sum(throttled), 0) FROM webpush.counters WHERE host = $1', [host]));
}

test('webpush.host_rates refuses what it cannot read', async () => {
  for (const bad of ['localhost', 'localhost=0', 'localhost=20/0', 'localhost=fast', 'localhost=20;b=3']) {
    await assert.rejects(db.query(`ALTER SYSTEM SET webpush.host_rates = '${bad}'`),
      /invalid value for parameter "webpush.host_rates"/, bad);
  }
});

test('a host rate of 20/s with a burst of 5: the burst at once, then 20 a second', async () => {
  const sub = service.subscribe();
  const id = await storeSubscription(db, sub);
  const host = new URL(sub.endpoint).host;
  const n = 20 * RUN_SECONDS + 5;
  const throttledBefore = await throttledCount(new URL(sub.endpoint).hostname);
  await setHostRates(`${host}=20/5`);
  try {
    await queue(id, n, 'rate');
    // Those that wait in the queue for their turn say why.
    await until('a delivery waiting for the host rate', async () =>
      Number(await value("SELECT count(*) FROM webpush.deliveries WHERE subscription_id = $1 AND last_error = 'throttled: host rate 20/s'", [id])) > 0);
    await service.waitFor(() => arrivals(sub, 'rate').length === n, (RUN_SECONDS + 30) * 1000);
  } finally {
    await setHostRates(null);
  }
  const t = arrivals(sub, 'rate');
  const burst = t[4] - t[0];
  // After the burst, n - 5 requests at 20 a second.
  const rate = (n - 5) / ((t[n - 1] - t[4]) / 1000);
  const overall = (n - 1) / ((t[n - 1] - t[0]) / 1000);
  console.log(`# host rate 20/s, burst 5: ${n} in ${((t[n - 1] - t[0]) / 1000).toFixed(2)} s; burst in ${burst} ms; ` +
    `${rate.toFixed(2)}/s after it, ${overall.toFixed(2)}/s overall`);
  assert.ok(burst < 300 * SLOW, `the burst went at once (${burst} ms)`);
  // The next 20 one every 50 ms: a second less the last token's wait, and
  // less the connection's set-up, which the burst may have waited for.
  assert.ok(t[24] - t[5] >= 700, `the 20 after the burst at the rate (${t[24] - t[5]} ms)`);
  assert.ok(rate >= 18 && rate <= 22, `the rate after the burst is within 10% of 20/s: ${rate}`);
  // No second of the run holds more than the rate and the burst (within a
  // token's time: the worker's wake-ups are not exact).  The burst itself
  // may arrive late, after the connection's set-up, closer to what follows.
  for (let i = 5; i + 25 < n; i++) {
    assert.ok(t[i + 25] - t[i] >= 1000 - 50, `26 requests within a second: from ${i}, ${t[i + 25] - t[i]} ms`);
  }
  await until('every delivery recorded', async () =>
    Number(await value("SELECT count(*) FROM webpush.history WHERE subscription_id = $1 AND outcome = 'delivered'", [id])) === n);
  assert.ok(await throttledCount(new URL(sub.endpoint).hostname) - throttledBefore >= n - 5 - 20,
    'webpush.counters counts what the rate held back');
});

test('an application rate of 10/s with a burst of 2', async () => {
  const sub = service.subscribe();
  const id = await storeSubscription(db, sub);
  const n = 42;
  await db.query("SELECT webpush_application_rate('default', 10, 2)");
  assert.deepEqual((await db.query("SELECT rate_per_second, rate_burst FROM webpush.applications WHERE name = 'default'")).rows,
    [{ rate_per_second: 10, rate_burst: 2 }]);
  try {
    await queue(id, n, 'app');
    await until('a delivery waiting for the application rate', async () =>
      Number(await value("SELECT count(*) FROM webpush.deliveries WHERE subscription_id = $1 AND last_error = 'throttled: application rate 10/s'", [id])) > 0);
    await service.waitFor(() => arrivals(sub, 'app').length === n, 30000);
  } finally {
    await db.query("SELECT webpush_application_rate('default', NULL)");
  }
  const t = arrivals(sub, 'app');
  const rate = (n - 2) / ((t[n - 1] - t[1]) / 1000);
  console.log(`# application rate 10/s, burst 2: ${n} in ${((t[n - 1] - t[0]) / 1000).toFixed(2)} s, ${rate.toFixed(2)}/s after the burst`);
  assert.ok(rate >= 9 && rate <= 11, `within 10% of 10/s: ${rate}`);
  assert.deepEqual((await db.query("SELECT rate_per_second, rate_burst FROM webpush.applications WHERE name = 'default'")).rows,
    [{ rate_per_second: null, rate_burst: null }], 'NULL removes the rate');
});

test('a 406 with Retry-After 2: nothing goes to the host for 2 s, then it resumes at half its rate', async () => {
  const sub = service.subscribe();
  const id = await storeSubscription(db, sub);
  const host = new URL(sub.endpoint).host;
  const n = 60;
  service.respond(sub.endpoint, { status: 406, headers: { 'retry-after': '2' } });
  await setHostRates(`${host}=20/5`);
  try {
    await queue(id, n, 'wns');
    await until('what was parked for the host went back, saying why', async () =>
      Number(await value('SELECT count(*) FROM webpush.deliveries WHERE subscription_id = $1 AND last_error = $2',
        [id, `throttled: ${host} answered 406 with Retry-After 2 s`])) > 0);
    await service.waitFor(() => arrivals(sub, 'wns').length === n + 1, 40000);
  } finally {
    await setHostRates(null);
  }
  const all = service.received(sub.endpoint).filter((m) => m.payload && m.payload.toString().startsWith('wns-'));
  const refused = all.findIndex((m) => m.status === 406);
  assert.equal(refused, 0, 'the first request was answered 406');
  const t406 = all[0].receivedAt;
  // The burst's other requests were on the wire already; after them, none
  // for 2 s.
  const after = all.filter((m) => m.receivedAt > t406 + 100).map((m) => m.receivedAt);
  const pause = after[0] - t406;
  const resumed = after[10] - after[0];
  console.log(`# 406 with Retry-After 2: next request after ${pause} ms; the next 10 in ${resumed} ms`);
  assert.ok(pause >= 2000 - 10, `nothing for 2 s after the 406 (${pause} ms)`);
  assert.ok(pause < 3500 * SLOW, `and then it resumes (${pause} ms)`);
  // Half of 20/s, no burst: 10 intervals of 100 ms, a little less as it ramps up.
  assert.ok(resumed >= 850, `at half the rate after the pause (${resumed} ms for 10)`);
  await until('every delivery recorded', async () =>
    Number(await value("SELECT count(*) FROM webpush.history WHERE subscription_id = $1 AND outcome = 'delivered'", [id])) === n);
});
