'use strict';
// Each browser vendor's push service, as the loopback service plays it
// (subscribe({ vendor }), test/push-service.js): Apple's sub, exp and token
// refresh rules, Mozilla's TTL, Topic, exp and payload limit with its errno
// bodies, FCM's 404 and WNS's 406 with Retry-After.  What the extension
// sends keeps every rule (no request is refused), and each vendor's own
// answers are handled as documented.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { spawn, execFileSync } = require('node:child_process');
const http2 = require('node:http2');
const jose = require('jose');
const { setUpFile, tearDownFile, reloadWorker, restartWith, workerPids, Session, caFile, serverLog, SLOW } = require('./helpers');
const { VENDORS } = require('../push-service');

let service;
const db = new Session();
const { until, value } = db;

before(async () => {
  service = await setUpFile(db);
});

after(() => tearDownFile(db, service));

// A subscription of vendor's, stored (under application, or the default):
// the subscription object with its id.
async function vendorSubscriber(vendor, application = null) {
  const subscription = service.subscribe({ vendor });
  const id = await value('SELECT webpush_subscribe($1, NULL, $2) AS id', [subscription, application]);
  return { ...subscription, id };
}

// Waits until n messages to subscription id are in the history: its rows,
// oldest first.
async function history(id, n) {
  const sql = `SELECT message_id, outcome, status, attempts, reason FROM webpush.history
    WHERE subscription_id = $1 ORDER BY finished_at, message_id`;
  return until(`${n} messages of subscription ${id} recorded`, async () => {
    const { rows } = await db.query(sql, [id]);
    return rows.length === n && rows;
  });
}

const subscriptionExists = async (id) =>
  Number(await value('SELECT count(*) FROM webpush.subscriptions WHERE id = $1', [id])) === 1;

// The JWT of a request the service received.
const jwtOf = (m) => /vapid t=([^,\s]+)/.exec(m.headers.authorization)[1];

// A request made here, not by the extension: to endpoint, signed for
// claims (aud, exp and sub by default right) with key, headers added to
// the right ones (a value of undefined drops one), body bytes (unencrypted:
// the vendors' own rules are checked first).  Its status, headers and body.
async function rawPush(endpoint, { key, claims = {}, headers = {}, body = Buffer.alloc(0) }) {
  const url = new URL(endpoint);
  const now = Math.floor(Date.now() / 1000);
  const jwt = await new jose.SignJWT({ aud: url.origin, exp: now + 12 * 3600, sub: 'mailto:ops@example.com', ...claims })
    .setProtectedHeader({ typ: 'JWT', alg: 'ES256' }).sign(key.privateKey);
  const jwk = key.publicKey.export({ format: 'jwk' });
  const k = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]).toString('base64url');
  const all = {
    ':method': 'POST', ':path': url.pathname, ttl: '60', 'content-type': 'application/octet-stream',
    'content-length': String(body.length), authorization: `vapid t=${jwt}, k=${k}`, ...headers,
  };
  if (body.length) all['content-encoding'] = 'aes128gcm';
  for (const [name, v] of Object.entries(all)) if (v === undefined) delete all[name];
  const client = http2.connect(url.origin, { ca: fs.readFileSync(caFile) });
  try {
    return await new Promise((resolve, reject) => {
      const req = client.request(all);
      const chunks = [];
      let answer;
      req.on('response', (h) => { answer = h; });
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve({ status: answer[':status'], headers: answer, body: Buffer.concat(chunks).toString() }));
      req.on('error', reject);
      req.end(body);
    });
  } finally {
    client.close();
  }
}

test('each vendor mode refuses a request that breaks its rules, as that vendor answers', async () => {
  const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const later = Math.floor(Date.now() / 1000) + 25 * 3600;
  const endpoint = (vendor) => service.subscribe({ vendor }).endpoint;
  const json = (r) => ({ status: r.status, ...JSON.parse(r.body) });
  const rejected = service.rejections.length;

  for (const sub of ['mailto:ops@localhost', 'mailto: <ops@example.com>', 'mailto:ops@shop.invalid', 'https://127.0.0.1/']) {
    assert.deepEqual(json(await rawPush(endpoint('apple'), { key, claims: { sub } })), { status: 403, reason: 'BadJwtToken' }, sub);
  }
  assert.deepEqual(json(await rawPush(endpoint('apple'), { key, claims: { exp: later } })), { status: 403, reason: 'BadJwtToken' });
  // A token, then another for the same audience and key within the hour.
  const apple = endpoint('apple');
  assert.equal((await rawPush(apple, { key })).status, 201, 'a push without payload, within the rules');
  assert.deepEqual(json(await rawPush(apple, { key, claims: { jti: 'another' } })), { status: 403, reason: 'BadJwtToken' });

  const mozilla = (opts) => rawPush(endpoint('mozilla'), { key, ...opts }).then((r) => {
    const b = JSON.parse(r.body);
    assert.equal(b.code, r.status);
    assert.equal(typeof b.message, 'string');
    return [r.status, b.errno];
  });
  assert.deepEqual(await mozilla({ headers: { ttl: undefined } }), [400, 111]);
  assert.deepEqual(await mozilla({ headers: { topic: 'A'.repeat(33) } }), [400, 113]);
  assert.deepEqual(await mozilla({ claims: { exp: later } }), [401, 109]);
  assert.deepEqual(await mozilla({ body: Buffer.alloc(4097) }), [413, 104]);

  assert.equal((await rawPush(endpoint('fcm'), { key, body: Buffer.alloc(4097) })).status, 413);
  const wns = await rawPush(endpoint('wns'), { key, body: Buffer.alloc(5001) });
  assert.equal(wns.status, 413);
  assert.match(wns.headers['x-wns-error-description'], /5000/);
  assert.equal(wns.body, '', 'WNS gives its reason in a header only');

  assert.deepEqual(service.rejections.slice(rejected).map((r) => `${r.vendor} ${r.status}`), [
    'apple 403', 'apple 403', 'apple 403', 'apple 403', 'apple 403', 'apple 403',
    'mozilla 400', 'mozilla 400', 'mozilla 401', 'mozilla 413', 'fcm 413', 'wns 413']);
});

test('every vendor takes ordinary messages (topics, urgencies, TTLs, sizes) with no request refused and one JWT per audience', async () => {
  const rejected = service.rejections.length;
  const problems = service.problems.length;
  // payload, ttl, urgency, topic; 3993 bytes make a 4096-byte body.
  const kinds = [
    ['hello', 0, 'very-low', null],
    ['x'.repeat(1000), 60, 'high', 'A'.repeat(32)],
    ['{"order":42}', 2419200, 'normal', 'order-42_shipped'],
    ['y'.repeat(3993), 86400, 'low', 'b'],
  ];
  const subs = [];
  for (const vendor of VENDORS) subs.push(await vendorSubscriber(vendor), await vendorSubscriber(vendor));
  for (const sub of subs) {
    for (const [payload, ttl, urgency, topic] of kinds) {
      await db.query('SELECT webpush_send($1::bigint, $2, $3, $4, $5)', [sub.id, payload, ttl, urgency, topic]);
    }
  }
  for (const sub of subs) {
    const rows = await history(sub.id, kinds.length);
    assert.deepEqual(rows.map((r) => r.outcome), kinds.map(() => 'delivered'), `${sub.endpoint}: ${JSON.stringify(rows)}`);
  }
  assert.deepEqual(service.rejections.slice(rejected), []);
  assert.deepEqual(service.problems.slice(problems), []);
  const received = subs.flatMap((s) => service.received(s.endpoint));
  assert.equal(received.length, subs.length * kinds.length);
  for (const m of received) {
    const now = m.receivedAt / 1000;
    assert.ok(m.claims.exp <= now + 24 * 3600, `exp ${m.claims.exp} is within a day`);
  }
  assert.deepEqual(received.map((m) => m.headers.topic).filter(Boolean).sort(),
    subs.flatMap(() => ['A'.repeat(32), 'order-42_shipped', 'b']).sort());
  // One audience (the service's origin), signed once for all of them.
  assert.equal(new Set(received.map((m) => m.claims.aud)).size, 1);
  assert.equal(new Set(received.map(jwtOf)).size, 1, 'one JWT for the audience, reused');
});

test('Apple takes the subject of every application the extension lets send; placeholders are refused up front', async () => {
  const rejected = service.rejections.length;
  const placeholders = ['mailto:ops@localhost', 'mailto: <ops@shop.example.com>', 'mailto:ops@shop.invalid',
    'mailto:<ops@shop.example.com>', 'https://localhost/contact', 'mailto:ops@shop.test'];
  const refused = [];
  for (const [i, subject] of placeholders.entries()) {
    const app = `vendors_apple_${i}`;
    let accepted = true;
    try {
      await db.query('SELECT webpush_application($1, $2)', [app, subject]);
    } catch (e) {
      accepted = false;
      refused.push(subject);
    }
    // What the extension accepts goes to Apple, who must take it too.
    if (accepted) {
      const sub = await vendorSubscriber('apple', app);
      await db.query('SELECT webpush_send($1::bigint, $2)', [sub.id, `from ${subject}`]);
      await history(sub.id, 1);
    }
  }
  assert.deepEqual(service.rejections.slice(rejected), [], 'Apple refused no request');
  assert.deepEqual(refused, placeholders);
});

test('Mozilla takes every topic the extension lets send; longer or other topics are refused up front', async () => {
  const rejected = service.rejections.length;
  const sub = await vendorSubscriber('mozilla');
  const topics = ['A'.repeat(33), 'order 42', 'order+42', 'b64/slash', 'padded=='];
  const refused = [];
  for (const topic of topics) {
    try {
      await db.query('SELECT webpush_send($1::bigint, $2, topic => $3)', [sub.id, 'with a topic', topic]);
    } catch (e) {
      assert.match(e.message, /invalid topic|push_topic_check/);
      refused.push(topic);
    }
  }
  // What the extension queued goes to Mozilla, who must take it too.
  await db.query('SELECT webpush_send($1::bigint, $2, topic => $3)', [sub.id, 'the last', 'A'.repeat(32)]);
  await history(sub.id, topics.length - refused.length + 1);
  assert.deepEqual(service.rejections.slice(rejected), [], 'Mozilla refused no request');
  assert.deepEqual(refused, topics);
});

test("a vendor's stale subscription answer removes it, the vendor's reason in the history", async () => {
  const expected = {
    apple: [410, (r) => assert.equal(r, 'subscription gone: HTTP 410: {"reason":"Unregistered"}')],
    fcm: [404, (r) => assert.match(r, /^subscription gone: HTTP 404: A valid push subscription endpoint/)],
    mozilla: [410, (r) => assert.equal(JSON.parse(r.replace(/^subscription gone: HTTP 410: /, '')).errno, 106)],
    wns: [410, (r) => assert.equal(r, 'subscription gone: HTTP 410 (X-WNS-Error-Description: The channel expired)')],
  };
  const rejected = service.rejections.length;
  for (const vendor of VENDORS) {
    const sub = await vendorSubscriber(vendor);
    service.markStale(sub.endpoint);
    await db.query('SELECT webpush_send($1::bigint, $2)', [sub.id, 'to a stale subscription']);
    const [row] = await history(sub.id, 1);
    const [status, checkReason] = expected[vendor];
    assert.equal(row.outcome, 'failed', vendor);
    assert.equal(row.status, status, vendor);
    checkReason(row.reason);
    assert.equal(await subscriptionExists(sub.id), false, `${vendor}'s ${status} removed the subscription`);
  }
  assert.deepEqual(service.rejections.slice(rejected), []);
});

test("WNS's 406 with Retry-After is retried no sooner than told, its X-WNS-Error-Description kept", async () => {
  const sub = await vendorSubscriber('wns');
  service.throttle(sub.endpoint, 1, 2);
  await db.query('SELECT webpush_send($1::bigint, $2)', [sub.id, 'to Edge']);
  const waiting = await until('the 406 waiting for its retry', async () => {
    const { rows } = await db.query('SELECT last_status, last_error FROM webpush.deliveries WHERE subscription_id = $1', [sub.id]);
    return rows.length === 1 && rows[0].last_status === 406 && rows[0];
  });
  assert.equal(waiting.last_error, 'HTTP 406 (X-WNS-Error-Description: The channel is throttled)');
  const [row] = await history(sub.id, 1);
  assert.deepEqual({ outcome: row.outcome, attempts: row.attempts }, { outcome: 'delivered', attempts: 2 });
  const [first, second] = service.received(sub.endpoint);
  assert.equal(first.status, 406);
  assert.ok(second.receivedAt - first.receivedAt >= 2000, `retried ${second.receivedAt - first.receivedAt} ms after the 406`);
  assert.equal(await subscriptionExists(sub.id), true, 'throttling keeps the subscription');
});

test("Mozilla's 413 errno 104 is in the history; with webpush.payload_limits at 3070 nothing too large reaches it", async () => {
  service.vendorLimits.mozilla = 3070;  // Firefox for Android, through autopush's bridge
  try {
    const sub = await vendorSubscriber('mozilla');
    const host = new URL(sub.endpoint).host;
    // The encrypted body of n bytes of payload is n + 103 bytes.
    const tooBig = 'z'.repeat(2968);
    const fits = 'z'.repeat(2967);
    const rejected = service.rejections.length;
    await db.query('SELECT webpush_send($1::bigint, $2)', [sub.id, tooBig]);
    const [refused] = await history(sub.id, 1);
    assert.equal(refused.status, 413);
    assert.equal(JSON.parse(refused.reason.replace(/^HTTP 413: /, '')).errno, 104);
    assert.equal(service.rejections.length, rejected + 1, 'without the setting, autopush refuses it');

    await db.query(`ALTER SYSTEM SET webpush.payload_limits = '${host}=3070'`);
    await reloadWorker(db);
    const sent = service.received(sub.endpoint).length;
    await db.query('SELECT webpush_send($1::bigint, $2)', [sub.id, tooBig]);
    await db.query('SELECT webpush_send($1::bigint, $2)', [sub.id, fits]);
    const rows = await history(sub.id, 3);
    assert.deepEqual(rows.slice(1).map((r) => r.outcome).sort(), ['delivered', 'failed']);
    assert.match(rows.find((r, i) => i > 0 && r.outcome === 'failed').reason,
      /the encrypted body is 3071 bytes, above the 3070 that webpush.payload_limits allows/);
    assert.equal(service.received(sub.endpoint).length, sent + 1, 'only the one that fits reached the service');
    assert.equal(service.received(sub.endpoint)[sent].payload.toString(), fits);
    assert.equal(service.rejections.length, rejected + 1, 'no request refused with the setting');
  } finally {
    service.vendorLimits.mozilla = 4096;
    await db.query('ALTER SYSTEM RESET webpush.payload_limits');
    await reloadWorker(db);
  }
});

// The workers share one JWT per audience and key (src/shmem/tokens.c):
// with webpush.workers = 2 Apple sees a single token, which it would
// refuse as a refresh within the hour were each worker to sign its own.
test('two workers sending to Apple for one application: no token signed again within the hour', async () => {
  // A new application: its key has no token Apple has seen yet.
  await db.query("SELECT webpush_application('vendors_two_workers', 'mailto:ops@example.com')");
  await restartWith(db, { 'webpush.workers': 2, 'webpush.batch_size': 5 });
  try {
    // Both in their loop (each woken by a reload), so that both claim.
    const wakeups = async () => (await db.query(
      "SELECT wakeups FROM webpush_workers() WHERE database = 'postgres' AND pid IS NOT NULL ORDER BY worker")).rows.map((r) => Number(r.wakeups));
    await until('two workers', async () => (await workerPids(db)).length === 2 && (await wakeups()).length === 2);
    const started = await wakeups();
    await db.query('SELECT pg_reload_conf()');
    await until('both workers woken', async () => (await wakeups()).every((n, i) => n > started[i]));
    const rejected = service.rejections.length;
    const subs = [];
    // Enough for both workers to claim some (as e2e/6-workers does).
    for (let i = 0; i < 20; i++) subs.push(await vendorSubscriber('apple', 'vendors_two_workers'));
    await db.query("SELECT webpush_send(s, 'm ' || i) FROM unnest($1::bigint[]) s, generate_series(1, 50) i",
      [subs.map((s) => s.id)]);
    for (const sub of subs) await history(sub.id, 50);
    const received = subs.flatMap((s) => service.received(s.endpoint));
    assert.ok(new Set(received.map((m) => m.remotePort)).size >= 2, 'both workers sent');
    assert.equal(new Set(received.map(jwtOf)).size, 1, 'one token from both workers');
    assert.deepEqual(service.rejections.slice(rejected), [],
      `${new Set(received.map(jwtOf)).size} JWTs from ${new Set(received.map((m) => m.remotePort)).size} connections`);
    // A session sending one itself takes the workers' token too.
    assert.equal(await value('SELECT status FROM webpush_send_now($1::bigint, $2)', [subs[0].id, 'now']), 201);
    assert.equal(jwtOf(service.received(subs[0].endpoint).at(-1)), jwtOf(received[0]));
  } finally {
    await restartWith(db, { 'webpush.workers': null, 'webpush.batch_size': null });
  }
});

// Waits for n outcomes of subscription id, all delivered: the JWT of each.
async function deliveredJwts(sub, n) {
  const rows = await history(sub.id, n);
  assert.deepEqual(rows.map((r) => [r.outcome, r.reason]), Array(n).fill(['delivered', null]));
  return service.received(sub.endpoint).map(jwtOf);
}

test('Apple gets the token of before a restart and a crash after them, not a new one it refuses within the hour', async () => {
  await db.query("SELECT webpush_application('vendors_restart', 'mailto:ops@example.com')");
  const sub = await vendorSubscriber('apple', 'vendors_restart');
  const rejected = service.rejections.length;
  await db.query("SELECT webpush_send($1::bigint, 'before')", [sub.id]);
  const [first] = await deliveredJwts(sub, 1);

  await restartWith(db, {});
  await db.query("SELECT webpush_send($1::bigint, 'after a restart')", [sub.id]);
  assert.deepEqual(await deliveredJwts(sub, 2), [first, first]);

  // A process that dies on a signal restarts the whole server, shared
  // memory included.
  const killed = Number(await value("SELECT pid FROM pg_stat_activity WHERE backend_type = 'webpush worker'"));
  await db.end();
  process.kill(killed, 'SIGKILL');
  await until('the server back after the crash, with a new worker', async () => {
    try {
      await db.connect();
      const pid = await value("SELECT pid FROM pg_stat_activity WHERE backend_type = 'webpush worker'");
      if (pid !== undefined && Number(pid) !== killed) return true;
    } catch (e) { /* not back yet */ }
    await db.end().catch(() => {});
    return false;
  });
  await db.query("SELECT webpush_send($1::bigint, 'after a crash')", [sub.id]);
  assert.deepEqual(await deliveredJwts(sub, 3), [first, first, first]);
  // A session's own send takes it too.
  assert.equal(await value('SELECT status FROM webpush_send_now($1::bigint, $2)', [sub.id, 'now']), 201);
  assert.equal(jwtOf(service.received(sub.endpoint).at(-1)), first);
  assert.deepEqual(service.rejections.slice(rejected), []);
});

test("an application's subject changed: Apple gets the token it saw until that is an hour old", async () => {
  await db.query("SELECT webpush_application('vendors_subject', 'mailto:ops@example.com')");
  const sub = await vendorSubscriber('apple', 'vendors_subject');
  const rejected = service.rejections.length;
  await db.query("SELECT webpush_send($1::bigint, 'before')", [sub.id]);
  const [first] = await deliveredJwts(sub, 1);
  assert.equal(jose.decodeJwt(first).sub, 'mailto:ops@example.com');

  await db.query("SELECT webpush_application('vendors_subject', 'mailto:push@example.com')");
  await db.query("SELECT webpush_send($1::bigint, 'after')", [sub.id]);
  assert.deepEqual(await deliveredJwts(sub, 2), [first, first]);
  assert.equal(jwtOf(service.received(sub.endpoint).at(-1)), first);
  assert.equal(await value('SELECT status FROM webpush_send_now($1::bigint, $2)', [sub.id, 'now']), 201);
  assert.equal(jwtOf(service.received(sub.endpoint).at(-1)), first);
  assert.deepEqual(service.rejections.slice(rejected), []);
});

// CRC-32C (Castagnoli, reflected), as PostgreSQL's pg_crc32c computes it.
function crc32c(bytes) {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}
// Bytes followed by their CRC-32C, little-endian as this machine stores it.
const withCrc = (bytes) => {
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32c(bytes));
  return Buffer.concat([bytes, crc]);
};

test('a token file cut short or changed is logged and ignored at the restart: the server starts and signs new ones', async () => {
  const file = `${process.env.PGDATA}/webpush_vapid_tokens`;
  const sub = await vendorSubscriber('mozilla');
  const whole = fs.readFileSync(file);
  assert.ok(whole.length > 100, 'the tokens signed so far are in the file');
  assert.equal(withCrc(whole.subarray(0, -4)).compare(whole), 0, 'its checksum is a CRC-32C of the rest');
  for (const [what, bytes] of [['cut short', whole.subarray(0, whole.length - 7)],
    ['one byte changed', Buffer.concat([whole.subarray(0, 60), Buffer.from([whole[60] ^ 1]), whole.subarray(61)])],
    // With its checksum right, so that the entries are read: past the end.
    ['a count larger than its entries', withCrc(Buffer.concat([whole.subarray(0, 8), Buffer.from([255, 255, 0, 0]), whole.subarray(12, -4)]))],
    ['a JWT longer than the file', withCrc(Buffer.concat([whole.subarray(0, 12 + 80), Buffer.from([255, 2]), whole.subarray(12 + 82, -4)]))]]) {
    fs.writeFileSync(file, bytes);
    const log = serverLog();
    await restartWith(db, {});
    await log.flushed(db);
    assert.match(log.text(), /webpush: ignoring file "webpush_vapid_tokens": /, what);
    const before = service.received(sub.endpoint).length;
    await db.query("SELECT webpush_send($1::bigint, $2)", [sub.id, what]);
    await until(`delivered after the file was ${what}`, async () => service.received(sub.endpoint).length === before + 1);
  }
  // The new token is written whole again.
  assert.ok(fs.readFileSync(file).length > 100);
});

// The application's current key pair, as jose signs with it, and its
// public key as the Authorization header's k= carries it.
async function applicationKey(application) {
  const { rows: [k] } = await db.query(
    'SELECT public_key, private_key FROM webpush_keys_export($1) WHERE current', [application]);
  const pub = Buffer.from(k.public_key, 'base64url');
  const key = await jose.importJWK({
    kty: 'EC', crv: 'P-256', d: k.private_key,
    x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url'),
  }, 'ES256');
  return { key, publicKey: k.public_key };
}

// Adds to the token file a token signed at signedAt for (publicKey,
// subject, origin), as the server writes one (src/shmem/tokens.c); read
// back at the next start.
function addTokenToFile(file, { publicKey, subject, origin, jwt, signedAt, exp }) {
  const sha = (...parts) => crypto.createHash('sha256').update(parts.map((p) => `${p}\0`).join('')).digest();
  const whole = fs.existsSync(file) ? fs.readFileSync(file) : withCrc(Buffer.from([0x54, 0x56, 0x50, 0x57, 2, 0, 0, 0, 0, 0, 0, 0]));
  const header = Buffer.from(whole.subarray(0, 12));
  header.writeUInt32LE(header.readUInt32LE(8) + 1, 8);
  const entry = Buffer.alloc(82);   // id, audience, signed_at, exp, length
  sha(publicKey, subject, origin).copy(entry, 0);
  sha('audience', publicKey, origin).copy(entry, 32);
  entry.writeBigInt64LE(BigInt(signedAt), 64);
  entry.writeBigInt64LE(BigInt(exp), 72);
  entry.writeUInt16LE(jwt.length, 80);
  fs.writeFileSync(file, withCrc(Buffer.concat([header, whole.subarray(12, -4), entry, Buffer.from(jwt)])));
}

test('a subject changed and changed back within the hour of the new one\'s token: Apple keeps getting that token, not the older one again', async () => {
  const [s1, s2] = ['mailto:ops@example.com', 'mailto:push@example.com'];
  await db.query("SELECT webpush_application('vendors_back', $1)", [s1]);
  const sub = await vendorSubscriber('apple', 'vendors_back');
  const { key, publicKey } = await applicationKey('vendors_back');
  const origin = new URL(sub.endpoint).origin;
  const now = Math.floor(Date.now() / 1000);
  // A token for s1 signed two hours ago, which Apple has seen since then.
  const old = await new jose.SignJWT({ aud: origin, exp: now + 10 * 3600, sub: s1 })
    .setProtectedHeader({ typ: 'JWT', alg: 'ES256' }).sign(key);
  addTokenToFile(`${process.env.PGDATA}/webpush_vapid_tokens`,
    { publicKey, subject: s1, origin, jwt: old, signedAt: now - 7200, exp: now + 10 * 3600 });
  await restartWith(db, {});
  service.appleTokens.set(`${origin} ${publicKey}`, { jwt: old, since: now - 7200 });
  const rejected = service.rejections.length;
  // Workers read an application's subject again after a second.
  const subjectSeen = () => new Promise((resolve) => setTimeout(resolve, 1100));

  await db.query("SELECT webpush_send($1::bigint, 'from the file')", [sub.id]);
  assert.deepEqual(await deliveredJwts(sub, 1), [old]);

  // The token Apple saw is two hours old: the new subject gets its own.
  await db.query("SELECT webpush_application('vendors_back', $1)", [s2]);
  await subjectSeen();
  await db.query("SELECT webpush_send($1::bigint, 'the new subject')", [sub.id]);
  const [, second] = await deliveredJwts(sub, 2);
  assert.equal(jose.decodeJwt(second).sub, s2);

  // Back to the first subject: its token is still valid, but Apple saw
  // another since, less than an hour ago.
  await db.query("SELECT webpush_application('vendors_back', $1)", [s1]);
  await subjectSeen();
  await db.query("SELECT webpush_send($1::bigint, 'the first subject again')", [sub.id]);
  assert.deepEqual(await deliveredJwts(sub, 3), [old, second, second]);
  assert.equal(await value('SELECT status FROM webpush_send_now($1::bigint, $2)', [sub.id, 'now']), 201);
  assert.equal(jwtOf(service.received(sub.endpoint).at(-1)), second);
  assert.deepEqual(service.rejections.slice(rejected), []);
});

test('a FIFO in place of the token file or of its temporary file: the server starts at once, and a new token is written and sent', async () => {
  const file = `${process.env.PGDATA}/webpush_vapid_tokens`;
  fs.rmSync(file, { force: true });
  execFileSync('mkfifo', [file]);
  // Something that opens the FIFO after a while, for a server that waits in
  // open() for it: it then starts, late.
  const late = 15000 * SLOW;
  const opener = spawn('sh', ['-c', `sleep ${late / 1000}; exec 3<>"$0"; sleep 1`, file], { stdio: 'ignore' });
  const log = serverLog();
  const started = Date.now();
  try {
    await restartWith(db, {});
  } finally {
    opener.kill();
  }
  assert.ok(Date.now() - started < late, `the server started in ${Date.now() - started} ms`);
  await log.flushed(db);
  assert.match(log.text(), /webpush: ignoring file "webpush_vapid_tokens": it is not a regular file/);

  // The temporary file a FIFO: the token is written all the same, and
  // the worker that signed it does not wait there with the table's lock.
  const tmp = `${file}.tmp`;
  execFileSync('mkfifo', [tmp]);
  await db.query("SELECT webpush_application('vendors_fifo', 'mailto:ops@example.com')");
  const sub = await vendorSubscriber('apple', 'vendors_fifo');
  try {
    await db.query("SELECT webpush_send($1::bigint, 'past a FIFO')", [sub.id]);
    const [jwt] = await deliveredJwts(sub, 1);
    assert.ok(fs.statSync(file).isFile());
    assert.ok(fs.readFileSync(file).includes(jwt), 'the new token is in the file');
    assert.equal(fs.existsSync(tmp), false);
  } finally {
    // A writer that waits in open() gets a reader and goes on.
    if (fs.existsSync(tmp) && fs.statSync(tmp).isFIFO()) {
      const fd = fs.openSync(tmp, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      await new Promise((resolve) => setTimeout(resolve, 500));
      fs.closeSync(fd);
      fs.rmSync(tmp);
    }
  }
});
