'use strict';
// webpush_send_now against a real HTTPS push service on loopback that
// decrypts every body with http_ece and verifies every VAPID JWT with jose.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const webpush = require('web-push');
const {
  startService, freshDatabase, expectError, listen, caFile, SLOW, newSubscriber, silentTcpServer,
} = require('./helpers');

let service;
let db;

before(async () => {
  service = await startService();
  db = await freshDatabase('e2e_send_now');
});

after(async () => {
  await db.end();
  await service.stop();
});

const subscribe = (userId) => newSubscriber(db, service, userId);

test('a notification is delivered, decrypted intact, with every header right', async () => {
  const sub = await subscribe();
  const payload = JSON.stringify({ title: 'Hello', body: 'Grüße aus PostgreSQL ✓' });
  const { rows } = await db.query(
    "SELECT * FROM webpush_send_now($1::bigint, $2, ttl => 3600, urgency => 'high', topic => 'order-42')",
    [sub.id, payload]);
  assert.equal(rows[0].status, 201);

  const [msg] = service.received(sub.endpoint);
  assert.deepEqual(msg.errors, []);
  assert.equal(msg.payload.toString('utf8'), payload);
  assert.equal(msg.headers.ttl, '3600');
  assert.equal(msg.headers.urgency, 'high');
  assert.equal(msg.headers.topic, 'order-42');
  assert.equal(msg.headers['content-encoding'], 'aes128gcm');
  assert.equal(msg.httpVersion, '2.0', 'HTTP/2 is used');
  assert.equal(msg.claims.aud, service.origin);
  assert.equal(msg.claims.sub, 'mailto:ops@example.com');
  const expIn = msg.claims.exp - Math.floor(Date.now() / 1000);
  assert.ok(expIn > 11 * 3600 && expIn <= 12 * 3600, `exp is ${expIn} s ahead`);
  const { rows: keys } = await db.query('SELECT webpush_keys() AS k');
  assert.equal(msg.vapidKey, keys[0].k, 'k= is the public key browsers were given');
});

test('a subscription object that is not stored can be sent to', async () => {
  const subscription = service.subscribe();
  const { rows } = await db.query('SELECT status FROM webpush_send_now($1::jsonb, $2)',
    [subscription, 'one-off']);
  assert.equal(rows[0].status, 201);
  assert.equal(service.received(subscription.endpoint)[0].payload.toString(), 'one-off');
});

test('a jsonb payload (webpush_notification) is sent as its JSON text, to a stored subscription and to an object', async () => {
  const sub = await subscribe();
  const { rows } = await db.query(
    "SELECT status FROM webpush_send_now($1::bigint, webpush_notification('Shipped', 'Your teapot is on its way', url => '/orders/7'))",
    [sub.id]);
  assert.equal(rows[0].status, 201);
  const [msg] = service.received(sub.endpoint);
  assert.deepEqual(msg.errors, []);
  // webpush_send_now sends the payload as built: "receipt" gets ids only
  // from the worker.
  assert.deepEqual(JSON.parse(msg.payload.toString('utf8')),
    { title: 'Shipped', body: 'Your teapot is on its way', url: '/orders/7', receipt: true });

  const subscription = service.subscribe();
  const { rows: r2 } = await db.query(
    'SELECT status FROM webpush_send_now($1::jsonb, $2::jsonb)', [subscription, { n: 1 }]);
  assert.equal(r2[0].status, 201);
  assert.deepEqual(JSON.parse(service.received(subscription.endpoint)[0].payload.toString()), { n: 1 });
});

test('a NULL payload sends a push without payload', async () => {
  const sub = await subscribe();
  const { rows } = await db.query('SELECT status FROM webpush_send_now($1::bigint, NULL)', [sub.id]);
  assert.equal(rows[0].status, 201);
  const [msg] = service.received(sub.endpoint);
  assert.deepEqual(msg.errors, []);
  assert.equal(msg.bodyLength, 0);
  assert.equal(msg.headers['content-length'], '0');
  assert.equal(msg.headers['content-encoding'], undefined);
  assert.equal(msg.headers.ttl, '2419200', 'the default TTL is 28 days');
  assert.equal(msg.headers.urgency, 'normal');
});

test('the largest payload (3993 bytes) arrives intact in a 4096-byte body', async () => {
  const sub = await subscribe();
  const payload = 'x'.repeat(3990) + 'end';
  const { rows } = await db.query('SELECT status FROM webpush_send_now($1::bigint, $2)', [sub.id, payload]);
  assert.equal(rows[0].status, 201);
  const [msg] = service.received(sub.endpoint);
  assert.equal(msg.bodyLength, 4096);
  assert.equal(msg.payload.toString(), payload);
});

test('every message has a fresh salt and sender key; the JWT is reused per origin', async () => {
  const sub = await subscribe();
  for (let i = 0; i < 3; i++) await db.query('SELECT webpush_send_now($1::bigint, $2)', [sub.id, `m${i}`]);
  const msgs = service.received(sub.endpoint);
  assert.equal(msgs.length, 3);
  assert.equal(new Set(msgs.map((m) => m.senderKey)).size, 3);
  assert.equal(new Set(msgs.map((m) => m.headers.authorization)).size, 1, 'one signed JWT per origin');
  assert.deepEqual(msgs.map((m) => m.payload.toString()), ['m0', 'm1', 'm2']);
});

for (const status of [404, 410]) {
  test(`a ${status} deletes the stored subscription and NOTIFYs webpush_subscription_gone`, async () => {
    const listener = await listen('e2e_send_now', 'webpush_subscription_gone');
    const sub = await subscribe(`gone-${status}`);
    service.respond(sub.endpoint, { status, body: 'gone' });
    const { rows } = await db.query('SELECT * FROM webpush_send_now($1::bigint, $2)', [sub.id, 'bye']);
    assert.equal(rows[0].status, status);
    assert.equal(rows[0].response, 'gone');
    const { rows: left } = await db.query('SELECT count(*)::int AS n FROM webpush.subscriptions WHERE id = $1', [sub.id]);
    assert.equal(left[0].n, 0);
    const notes = await listener.waitFor((n) => String(n.subscription_id) === String(sub.id));
    assert.deepEqual(notes, [{ subscription_id: Number(sub.id), status }]);
    await listener.end();
  });
}

for (const status of [400, 413, 429, 500]) {
  test(`a ${status} is returned and the subscription is kept`, async () => {
    const sub = await subscribe();
    service.respond(sub.endpoint, { status, body: `{"reason":"status ${status}"}`, headers: { 'retry-after': '30' } });
    const { rows } = await db.query('SELECT * FROM webpush_send_now($1::bigint, $2)', [sub.id, 'x']);
    assert.equal(rows[0].status, status);
    assert.equal(rows[0].response, `{"reason":"status ${status}"}`);
    const { rows: left } = await db.query('SELECT count(*)::int AS n FROM webpush.subscriptions WHERE id = $1', [sub.id]);
    assert.equal(left[0].n, 1);
  });
}

test('a key pair made by the npm web-push tool imports and signs JWTs that verify', async () => {
  const keys = webpush.generateVAPIDKeys();
  const { rows } = await db.query('SELECT webpush_keys_import($1) AS public', [keys.privateKey]);
  assert.equal(rows[0].public, keys.publicKey);
  const sub = await subscribe();
  await db.query('SELECT webpush_send_now($1::bigint, $2)', [sub.id, 'signed']);
  const [msg] = service.received(sub.endpoint);
  assert.deepEqual(msg.errors, [], 'jose verified the JWT against k=');
  assert.equal(msg.vapidKey, keys.publicKey);
});

test('the test push service accepts the reference sender (npm web-push)', async () => {
  // Guards the checker itself: a strict service that rejected the reference
  // library would prove nothing about the extension.
  const subscription = service.subscribe();
  const keys = webpush.generateVAPIDKeys();
  const res = await webpush.sendNotification(subscription, 'from web-push', {
    vapidDetails: { subject: 'mailto:ops@example.com', publicKey: keys.publicKey, privateKey: keys.privateKey },
    contentEncoding: 'aes128gcm',
    agent: new https.Agent({ ca: fs.readFileSync(caFile) }),
  });
  assert.equal(res.statusCode, 201);
  const [msg] = service.received(subscription.endpoint);
  assert.deepEqual(msg.errors, []);
  assert.equal(msg.payload.toString(), 'from web-push');
});

test('the push service rejects a tampered body (the checker can fail)', async () => {
  const subscription = service.subscribe();
  const other = service.subscribe();
  // Encrypt for one subscription, deliver to another: decryption must fail.
  const { rows } = await db.query('SELECT webpush_encrypt($1, $2, $3) AS body',
    [Buffer.from('secret'), subscription.keys.p256dh, subscription.keys.auth]);
  const res = await fetchWithCa(other.endpoint, rows[0].body);
  assert.equal(res.status, 400);
  assert.match(service.received(other.endpoint)[0].errors.join(' '), /decryption failed|VAPID/);
});

function fetchWithCa(url, body) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method: 'POST',
      ca: fs.readFileSync(caFile),
      headers: { TTL: '60', 'Content-Encoding': 'aes128gcm', 'Content-Type': 'application/octet-stream', 'Content-Length': body.length },
    }, (res) => { res.resume(); res.on('end', () => resolve({ status: res.statusCode })); });
    req.on('error', reject);
    req.end(body);
  });
}

test('connections to loopback are refused at connect time unless allowed', async () => {
  const sub = await subscribe();
  await db.query('SET webpush.allow_private_endpoints = off');
  try {
    // "localhost" passes the parse-time check (it is a name); the resolved
    // address is what gets refused.
    const err = await expectError(db, 'SELECT webpush_send_now($1::bigint, $2)', [sub.id, 'x']);
    assert.equal(err.code, '42501');
    assert.match(err.detail, /refused to connect to a loopback address/);
    assert.equal(service.received(sub.endpoint).length, 0);
  } finally {
    await db.query('SET webpush.allow_private_endpoints = on');
  }
});

test('redirects are not followed', async () => {
  const sub = await subscribe();
  const elsewhere = service.subscribe();
  service.respond(sub.endpoint, { status: 307, headers: { location: elsewhere.endpoint } });
  const { rows } = await db.query('SELECT status FROM webpush_send_now($1::bigint, $2)', [sub.id, 'x']);
  assert.equal(rows[0].status, 307);
  assert.equal(service.received(elsewhere.endpoint).length, 0);
});

test('TLS is verified: without the test CA the send fails', async () => {
  const sub = await subscribe();
  await db.query("SET webpush.ca_file = ''");  // the system store only
  try {
    const err = await expectError(db, 'SELECT webpush_send_now($1::bigint, $2)', [sub.id, 'x']);
    assert.equal(err.code, '08006');
    assert.match(err.detail, /certificate|SSL/i);
    assert.equal(service.received(sub.endpoint).length, 0);
  } finally {
    await db.query(`SET webpush.ca_file = '${caFile}'`);
  }
});

test('webpush.timeout bounds a request to a push service that does not answer', async () => {
  const sub = await subscribe();
  service.respond(sub.endpoint, { status: 201, delayMs: 3000 * SLOW });
  await db.query("SET webpush.timeout = '300ms'");
  const started = Date.now();
  try {
    const err = await expectError(db, 'SELECT webpush_send_now($1::bigint, $2)', [sub.id, 'x']);
    assert.equal(err.code, '08006');
    assert.match(err.detail, /timed out|Timeout/i);
    assert.ok(Date.now() - started < 2500 * SLOW, 'gave up at the timeout, not at the answer');
  } finally {
    await db.query('RESET webpush.timeout');
  }
});

test('webpush.timeout bounds a TLS handshake that never completes', async () => {
  // TCP is accepted and TLS never answered: only libcurl's own timer ends
  // the connect, and it must fire however the wait for it is cut up.
  const silent = await silentTcpServer();
  const endpoint = `https://localhost:${silent.port}/push/handshake`;
  const sub = { ...service.subscribe(), endpoint };
  await db.query("SET webpush.timeout = '2500ms'");
  const started = Date.now();
  try {
    const err = await expectError(db, 'SELECT webpush_send_now($1::jsonb, $2)', [sub, 'x']);
    const elapsed = Date.now() - started;
    assert.equal(err.code, '08006');
    assert.match(err.detail, /timeout/i);
    assert.ok(elapsed >= 2000 && elapsed < 6000 * SLOW, `gave up after ${elapsed} ms`);
  } finally {
    await db.query('RESET webpush.timeout');
    await silent.shutdown();
  }
});

test('statement_timeout cancels a send in progress', async () => {
  const sub = await subscribe();
  service.respond(sub.endpoint, { status: 201, delayMs: 4000 * SLOW });
  await db.query("SET statement_timeout = '400ms'");
  const started = Date.now();
  try {
    const err = await expectError(db, 'SELECT webpush_send_now($1::bigint, $2)', [sub.id, 'x']);
    assert.equal(err.code, '57014');
    assert.ok(Date.now() - started < 3000 * SLOW, `cancelled after ${Date.now() - started} ms`);
  } finally {
    await db.query('RESET statement_timeout');
  }
  // The backend is fine afterwards and the next send works.
  const sub2 = await subscribe();
  const { rows } = await db.query('SELECT status FROM webpush_send_now($1::bigint, $2)', [sub2.id, 'after']);
  assert.equal(rows[0].status, 201);
});

test('the push service saw no protocol violation in any test', () => {
  const unexpected = service.problems.filter((p) => !/decryption failed|VAPID: Authorization|Authorization is not/.test(p));
  assert.deepEqual(unexpected, []);
});
