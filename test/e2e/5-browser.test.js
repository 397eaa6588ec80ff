'use strict';
// The browser kit (client/) and the Express example, in Debian's chromium
// driven by playwright-core.  Vendor push services are out of reach, so the
// page's PushManager hands out subscriptions of the loopback push service
// (real keys, made by it), and what that service decrypted is delivered to
// the service worker through the DevTools protocol.  Everything between the
// click and the notification is real: the example server, webpush_subscribe,
// the trigger, the worker, encryption, VAPID, HTTP/2 and client/sw.js.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Pool } = require('pg');
const { chromium } = require('playwright-core');
const { createApp, migrate } = require('../../examples/express/server');
const { startService, connect, until, SLOW } = require('./helpers');

// A broken kit tends to hang (a promise that never settles): fail instead.
const LIMIT = { timeout: 60000 * SLOW };

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// The screenshot in docs/browser-kit.md: `WEBPUSH_SCREENSHOT=docs/browser-demo.png`.
const SCREENSHOT = process.env.WEBPUSH_SCREENSHOT ||
  path.join(process.env.WEBPUSH_TEST_TLS, '..', 'browser-demo.png');

let service, db, pool, server, origin, browser, key;

before(async () => {
  service = await startService();
  db = await connect(); // the worker serves database "postgres"
  // schema.sql as the database owner; the app as webpush_example, the
  // role it makes, as in production.
  const owner = new Pool({ host: process.env.PGHOST, port: Number(process.env.PGPORT), database: 'postgres', max: 1 });
  await migrate(owner);
  await owner.end();
  pool = new Pool({ host: process.env.PGHOST, port: Number(process.env.PGPORT), database: 'postgres', max: 4, user: 'webpush_example' });
  const { rows: [me] } = await pool.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user');
  assert.equal(me.rolsuper, false, 'the app runs without superuser rights');
  const app = createApp({ pool });
  // The kit's worker served from a subfolder too, as some sites do.
  app.get('/static/sw.js', (req, res) => res.sendFile(path.join(__dirname, '..', '..', 'client', 'sw.js')));
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  origin = `http://localhost:${server.address().port}`; // a secure context without TLS
  key = (await db.query('SELECT webpush_keys() AS k')).rows[0].k;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Loopback only: no background connections to Google's hosts.
    args: ['--no-sandbox', '--no-proxy-server', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await new Promise((resolve) => server.close(resolve));
  if (pool) await pool.end();
  if (db) {
    await db.query('DROP TABLE IF EXISTS messages; DROP ROLE IF EXISTS webpush_example');
    await db.query("DELETE FROM webpush.subscriptions WHERE endpoint LIKE $1", [`${service.origin}/%`]);
    await db.end();
  }
  if (service) await service.stop();
});

// Replaces PushManager in every page of the context (and, given a worker,
// in the service worker) with one whose subscribe() returns `subscription`,
// remembering the options it was called with.
function fakePushManager(subscription) {
  const state = { current: null, calls: [] };
  self.__fakePush = state;
  PushManager.prototype.subscribe = async function (options) {
    const keyBytes = new Uint8Array(options.applicationServerKey);
    state.calls.push({
      userVisibleOnly: options.userVisibleOnly,
      key: btoa(String.fromCharCode(...keyBytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
    });
    const json = subscription;
    state.current = {
      endpoint: json.endpoint,
      expirationTime: null,
      options: { userVisibleOnly: true, applicationServerKey: keyBytes.buffer },
      toJSON: () => JSON.parse(JSON.stringify(json)),
      unsubscribe: async () => { state.current = null; return true; },
    };
    return state.current;
  };
  PushManager.prototype.getSubscription = async function () { return state.current; };
}

async function newPage({ grant = true, subscription = service.subscribe() } = {}) {
  const context = await browser.newContext();
  if (grant) await context.grantPermissions(['notifications'], { origin });
  await context.addInitScript(fakePushManager, subscription);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.log(`page error: ${err.message}`));
  await page.goto(origin);
  await page.locator('#user').filter({ hasNotText: '…' }).waitFor();
  return { context, page, subscription, user: await page.locator('#user').textContent() };
}

async function stored(endpoint) {
  const { rows } = await db.query('SELECT user_id FROM webpush.subscriptions WHERE endpoint = $1', [endpoint]);
  return rows[0] || null;
}

// The registration id DevTools knows the page's service worker by.
async function registrationId(context, page) {
  const cdp = await context.newCDPSession(page);
  const registrations = [];
  cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
  await cdp.send('ServiceWorker.enable');
  const registration = await until('a service worker registration', () =>
    registrations.find((r) => !r.isDeleted && r.scopeURL === `${origin}/`));
  return { cdp, id: registration.registrationId };
}

async function serviceWorkerOf(context) {
  return context.serviceWorkers()[0] || context.waitForEvent('serviceworker');
}

test('the button asks permission, subscribes with the server key, and the subscription is stored', LIMIT, async () => {
  const { context, page, subscription, user } = await newPage();
  await page.click('#enable');
  await page.locator('#status.ok').waitFor();

  const calls = await page.evaluate(() => self.__fakePush.calls);
  assert.deepEqual(calls, [{ userVisibleOnly: true, key }], 'subscribed once, with webpush_keys() as applicationServerKey');
  assert.equal(await page.evaluate(() => Notification.permission), 'granted');
  assert.deepEqual(await stored(subscription.endpoint), { user_id: user });

  // "Turn off" removes it on the server and in the browser.
  await page.click('#disable');
  await until('unsubscribed on the server', async () => !(await stored(subscription.endpoint)));
  // The kit removes it on the server first, then in the browser.
  await until('unsubscribed in the browser too', async () =>
    (await page.evaluate(() => self.__fakePush.current)) === null);
  await context.close();
});

test('an insert into the table reaches the service worker as a notification', LIMIT, async () => {
  const { context, page, subscription, user } = await newPage();
  await page.click('#enable');
  await page.locator('#status.ok').waitFor();
  await page.fill('input[name=title]', 'Order shipped');
  await page.fill('input[name=body]', 'Your teapot is on its way');
  await page.fill('input[name=url]', '/orders/42');
  await page.click('#send'); // POST /api/push: INSERT INTO messages; the trigger queues

  const [message] = await service.waitFor((ms) => ms.some((m) => m.subscription === subscription.endpoint.split('/').pop()))
    .then(() => service.received(subscription.endpoint));
  assert.deepEqual(message.errors, []);
  const payload = JSON.parse(message.payload.toString());
  const { rows } = await db.query('SELECT id, user_id FROM messages ORDER BY id DESC LIMIT 1');
  assert.equal(rows[0].user_id, user);
  // A path keeps the kit's own convention (not Declarative Web Push), with
  // the example trigger's buttons, tag and badge, and this recipient's ids.
  const { rows: [sub] } = await db.query('SELECT id FROM webpush.subscriptions WHERE endpoint = $1', [subscription.endpoint]);
  assert.deepEqual({ ...payload, receipt: undefined }, {
    title: 'Order shipped', body: 'Your teapot is on its way', url: '/orders/42', tag: `message-${rows[0].id}`, app_badge: 1,
    badge: '/badge.png', receipt: undefined,
    actions: [{ action: 'open', title: 'Open', navigate: '/orders/42' }, { action: 'later', title: 'Later', navigate: `/?later=${rows[0].id}` }],
  });
  assert.equal(payload.receipt.subscription, Number(sub.id));
  assert.ok((await db.query('SELECT FROM webpush.message_status WHERE id = $1', [payload.receipt.message])).rowCount, 'the message id is real');

  // What the push service decrypted, handed to the service worker as the
  // browser's push client would.
  // Each push is awaited through the page, which sw.js tells once
  // showNotification has resolved: polling getNotifications() while a
  // notification is being shown can make Chromium drop it (it prunes what
  // is not displayed yet).
  const { cdp, id } = await registrationId(context, page);
  const push = async (data, count) => {
    await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId: id, data });
    await page.locator('#received li').nth(count - 1).waitFor();
  };
  const notifications = () => page.evaluate(async () =>
    (await (await navigator.serviceWorker.ready).getNotifications())
      .map((n) => ({ title: n.title, body: n.body, url: n.data && n.data.url })));

  await push(message.payload.toString(), 1);
  assert.deepEqual(await notifications(), [{ title: 'Order shipped', body: 'Your teapot is on its way', url: '/orders/42' }]);
  assert.equal(await page.locator('#received li').first().textContent(), 'Order shipped: Your teapot is on its way');
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // Plain text and an empty push follow the documented fallbacks.
  await push('just text', 2);
  await push('', 3);
  const titles = (await notifications()).map((n) => `${n.title}|${n.body}`);
  assert.ok(titles.includes('New notification|just text'), titles.join(', '));
  assert.ok(titles.includes('New notification|'), titles.join(', '));
  await context.close();
});

test('Declarative Web Push through the real push path: title, body, actions and badge shown; an action click navigates and is recorded once', LIMIT, async () => {
  const { context, page, subscription } = await newPage();
  // The declarative message navigates to an https site; the browser gets
  // it from here (no TLS, no network), so a navigation there can be seen.
  await context.route('https://shop.example/**', (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: '<title>shop</title>shop' }));
  await page.click('#enable');
  await page.locator('#status.ok').waitFor();
  const { rows: [sub] } = await db.query('SELECT id FROM webpush.subscriptions WHERE endpoint = $1', [subscription.endpoint]);
  await page.fill('input[name=title]', 'Your order shipped');
  await page.fill('input[name=body]', 'Track it or look later');
  await page.fill('input[name=url]', 'https://shop.example/orders/42');
  await page.click('#send');

  const [message] = await service.waitFor(() => service.received(subscription.endpoint).length === 1)
    .then(() => service.received(subscription.endpoint));
  assert.deepEqual(message.errors, []);
  const raw = message.payload.toString();
  assert.ok(raw.length <= 3993);
  const payload = JSON.parse(raw);
  const { rows: [row] } = await db.query('SELECT id FROM messages ORDER BY id DESC LIMIT 1');
  // WebKit's rules: web_push the number 8030, a non-empty title, navigate a URL.
  assert.equal(payload.web_push, 8030);
  assert.equal(typeof payload.web_push, 'number');
  assert.equal(payload.app_badge, 1);
  assert.equal(payload.notification.app_badge, 1);
  assert.deepEqual(payload.receipt, { message: payload.receipt.message, subscription: Number(sub.id) });
  assert.equal(payload.notification.title, 'Your order shipped');
  assert.equal(payload.notification.navigate, 'https://shop.example/orders/42');
  assert.deepEqual(payload.notification.actions, [
    { action: 'open', title: 'Open', navigate: 'https://shop.example/orders/42' },
    { action: 'later', title: 'Later', navigate: `https://shop.example/?later=${row.id}` },
  ]);
  const messageId = payload.receipt.message;

  // The worker's app badge calls, watched in the service worker.
  const worker = await serviceWorkerOf(context);
  await worker.evaluate(() => {
    self.__badges = [];
    self.navigator.setAppBadge = (n) => { self.__badges.push(n); return Promise.resolve(); };
  });
  const { cdp, id } = await registrationId(context, page);
  await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId: id, data: raw });
  await page.locator('#received li').first().waitFor();
  const shown = await page.evaluate(async () =>
    (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({
      title: n.title, body: n.body, badge: n.badge, tag: n.tag,
      actions: n.actions.map((a) => ({ action: a.action, title: a.title })),
    })));
  assert.deepEqual(shown, [{
    title: 'Your order shipped', body: 'Track it or look later', badge: `${origin}/badge.png`, tag: `message-${row.id}`,
    actions: [{ action: 'open', title: 'Open' }, { action: 'later', title: 'Later' }],
  }]);
  assert.deepEqual(await worker.evaluate(() => self.__badges), [1], 'the app badge was set to app_badge');

  const receipts = async () => (await db.query(
    'SELECT event, action FROM webpush.receipts WHERE message_id = $1 AND subscription_id = $2 ORDER BY event',
    [messageId, sub.id])).rows;
  await until('the shown receipt', async () => (await receipts()).length === 1);
  assert.deepEqual(await receipts(), [{ event: 'shown', action: null }]);

  // Headless Chromium cannot click a notification: the test dispatches the
  // click the browser would, with the action, to sw.js.  The browser only
  // lets a real click open a window, so sw.js sends the open tab there.
  await worker.evaluate(async () => {
    const [n] = await self.registration.getNotifications();
    self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n, action: 'later' }));
  });
  const target = `https://shop.example/?later=${row.id}`;
  await until('a tab at the action\'s navigate', () => context.pages().some((p) => p.url() === target));
  await until('the clicked receipt', async () => (await receipts()).length === 2);
  assert.deepEqual(await receipts(), [{ event: 'clicked', action: 'later' }, { event: 'shown', action: null }]);

  // The same receipts again (a retry after a lost answer) store nothing new.
  const again = await fetch(`${origin}/api/receipts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ receipts: [
      { message: messageId, subscription: Number(sub.id), event: 'clicked', action: 'later', at: Date.now() },
      { message: messageId, subscription: Number(sub.id), event: 'shown', at: Date.now() },
    ] }),
  });
  assert.equal(again.status, 204, 'the answer tells nothing of what was stored');
  assert.equal((await receipts()).length, 2, 'stored once');

  // The example shows the counts (once the worker recorded the delivery).
  await until('the delivery recorded', async () => (await db.query(
    'SELECT delivered FROM webpush.message_receipts WHERE id = $1', [messageId])).rows[0].delivered === '1');
  const stats = await context.newPage();
  await stats.goto(origin);
  await stats.locator('#totals', { hasText: '1 clicked' }).waitFor();
  const cells = await stats.locator('#stats tbody tr').first().locator('td').allTextContents();
  assert.deepEqual(cells, [String(messageId), '1', '1', '1', '0', 'later']);
  await context.close();
});

test('receipts that cannot reach the server are kept and go out together with the next', LIMIT, async () => {
  const { context, page, subscription } = await newPage();
  await page.click('#enable');
  await page.locator('#status.ok').waitFor();
  const { rows: [sub] } = await db.query('SELECT id FROM webpush.subscriptions WHERE endpoint = $1', [subscription.endpoint]);
  await page.fill('input[name=url]', '/offline');
  await page.click('#send');
  await service.waitFor(() => service.received(subscription.endpoint).length === 1);
  const raw = service.received(subscription.endpoint)[0].payload.toString();
  const messageId = JSON.parse(raw).receipt.message;

  // The receipts endpoint unreachable (a network error, as offline).
  const posts = [];
  await context.route(`${origin}/api/receipts`, (route) => {
    posts.push(JSON.parse(route.request().postData()).receipts.map((r) => r.event));
    return posts.length === 1 ? route.abort('internetdisconnected') : route.continue();
  });
  const { cdp, id } = await registrationId(context, page);
  await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId: id, data: raw });
  await page.locator('#received li').first().waitFor();
  await until('the first attempt', () => posts.length === 1);

  const worker = await serviceWorkerOf(context);
  await worker.evaluate(async () => {
    const [n] = await self.registration.getNotifications();
    n.close();
    self.dispatchEvent(new NotificationEvent('notificationclose', { notification: n }));
  });
  await until('the retry', () => posts.length === 2);
  assert.deepEqual(posts, [['shown'], ['shown', 'closed']], 'the kept receipt went out with the next, in one request');
  const stored = async () => (await db.query(
    'SELECT event FROM webpush.receipts WHERE message_id = $1 AND subscription_id = $2 ORDER BY event', [messageId, sub.id])).rows;
  await until('both stored', async () => (await stored()).length === 2);
  assert.deepEqual((await stored()).map((r) => r.event), ['closed', 'shown']);
  await context.close();
});

test('a denied permission is a typed error, and nothing is stored', LIMIT, async () => {
  const { context, page, subscription } = await newPage({ grant: false });
  const error = await page.evaluate(() => import('/webpush-client.js').then((m) =>
    m.subscribe().then(() => null, (e) => ({ name: e.name, code: e.code, typed: e instanceof m.WebPushError }))));
  assert.equal(await page.evaluate(() => Notification.permission), 'denied');
  assert.deepEqual(error, { name: 'WebPushError', code: 'permission-denied', typed: true });
  assert.deepEqual(await page.evaluate(() => self.__fakePush.calls), [], 'PushManager.subscribe was not called');
  assert.equal(await stored(subscription.endpoint), null);
  // The page says what to do.
  await page.click('#enable');
  await page.locator('#status.error', { hasText: 'blocked' }).waitFor();
  await context.close();
});

test('permission granted through the old callback form works; a dismissed prompt is its own error', LIMIT, async () => {
  const { context, page, subscription } = await newPage({ grant: false });
  // Older Safari: requestPermission takes a callback and returns undefined.
  const result = await page.evaluate(() => {
    Notification.requestPermission = (callback) => { setTimeout(() => callback('granted'), 10); };
    return import('/webpush-client.js').then((m) => m.subscribe().then((s) => s.endpoint, (e) => e.code));
  });
  assert.equal(result, subscription.endpoint);
  assert.ok(await stored(subscription.endpoint));

  const dismissed = await page.evaluate(() => {
    Notification.requestPermission = () => Promise.resolve('default');
    return import('/webpush-client.js').then((m) => m.subscribe().then(() => null, (e) => e.code));
  });
  assert.equal(dismissed, 'permission-dismissed');
  await context.close();
});

test('a subscription the extension refuses is a 400 with a JSON error, and a server-error in the page', LIMIT, async () => {
  const bad = { ...service.subscribe(), endpoint: 'http://push.example.com/not-https' };
  const { context, page } = await newPage({ subscription: bad });
  const error = await page.evaluate(() => import('/webpush-client.js').then((m) =>
    m.subscribe().then(() => null, (e) => ({ code: e.code, status: e.status, body: e.body }))));
  assert.equal(error.code, 'server-error');
  assert.equal(error.status, 400);
  assert.equal(error.body.error, 'invalid push endpoint');
  assert.equal(error.body.sqlstate, '22023');
  assert.match(error.body.hint, /https/);
  assert.equal(await stored(bad.endpoint), null);
  await context.close();
});

test('pushsubscriptionchange re-subscribes and replaces the stored subscription', LIMIT, async () => {
  const { context, page, subscription, user } = await newPage();
  await page.click('#enable');
  await page.locator('#status.ok').waitFor();
  assert.ok(await stored(subscription.endpoint));

  // The browser's push service renewed the subscription: the worker gets the
  // event with the old one, and must subscribe again with the same key.
  const renewed = service.subscribe();
  const worker = await serviceWorkerOf(context);
  const calls = await worker.evaluate(async ({ fake, renewed, endpoint }) => {
    (0, eval)(`(${fake})`)(renewed);
    const event = new Event('pushsubscriptionchange');
    let done;
    event.waitUntil = (promise) => { done = promise; };
    event.oldSubscription = {
      endpoint,
      options: { applicationServerKey: await (await fetch('/api/key')).json().then(({ applicationServerKey }) =>
        Uint8Array.from(atob(applicationServerKey.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)).buffer) },
    };
    self.dispatchEvent(event);
    await done;
    return self.__fakePush.calls;
  }, { fake: fakePushManager.toString(), renewed, endpoint: subscription.endpoint });

  assert.deepEqual(calls, [{ userVisibleOnly: true, key }]);
  assert.equal(await stored(subscription.endpoint), null, 'the old endpoint is gone');
  assert.deepEqual(await stored(renewed.endpoint), { user_id: user }, 'the new one belongs to the same user');

  // And the next notification goes to the new endpoint.
  await page.click('#send');
  await service.waitFor(() => service.received(renewed.endpoint).length === 1);
  assert.deepEqual(service.received(renewed.endpoint)[0].errors, []);
  await context.close();
});

test('after a key rotation the page subscribes again and the stored subscription moves to the new key', LIMIT, async () => {
  const { context, page, subscription } = await newPage();
  await page.click('#enable');
  await page.locator('#status.ok').waitFor();
  const keyOf = async () => (await db.query(
    "SELECT translate(encode(v.public_key, 'base64'), E'+/=\\n', '-_') AS k FROM webpush.subscriptions s "
    + 'JOIN webpush.vapid_keys v ON v.id = s.key_id WHERE s.endpoint = $1', [subscription.endpoint])).rows[0].k;
  assert.equal(await keyOf(), key, 'bound to the key it was made with');

  const oldPrivate = (await db.query("SELECT private_key FROM webpush_keys_export() WHERE current")).rows[0].private_key;
  const newKey = (await db.query('SELECT webpush_keys_rotate() AS k')).rows[0].k;
  try {
    // What the page runs on every visit.
    await page.evaluate(() => import('/webpush-client.js').then((kit) => kit.subscribe()));
    const calls = await page.evaluate(() => self.__fakePush.calls);
    assert.deepEqual(calls.map((c) => c.key), [key, newKey], 'noticed the new key and subscribed again with it');
    await until('the stored subscription on the new key', async () => (await keyOf()) === newKey);

    const first = service.messages.length;
    await db.query("SELECT webpush_send(id, 'after the rotation') FROM webpush.subscriptions WHERE endpoint = $1",
      [subscription.endpoint]);
    const [m] = await until('the notification', () => service.messages.length > first && service.messages.slice(first));
    assert.equal(m.status, 201);
    assert.equal(m.vapidKey, newKey);
  } finally {
    await db.query('SELECT webpush_keys_import($1)', [oldPrivate]);
    await context.close();
  }
});

// Each documented serviceWorker/scope combination settles: the worker's own
// registration is awaited, not one that controls the page.
for (const [name, options, expected] of [
  ['a worker served from /static/ (its scope /static/ does not cover the page)', { serviceWorker: '/static/sw.js' }, 'resolved'],
  ['scope /app/, called from /', { scope: '/app/' }, 'resolved'],
  ['a scope above the script\'s folder (not allowed without Service-Worker-Allowed)', { serviceWorker: '/static/sw.js', scope: '/' }, 'service-worker-failed'],
]) {
  test(`subscribe() settles for ${name}; getSubscription() and unsubscribe() find it`, LIMIT, async () => {
    const { context, page, subscription, user } = await newPage();
    const outcome = await page.evaluate((opts) => import('/webpush-client.js').then((kit) =>
      kit.subscribe(opts).then(() => 'resolved', (e) => (e instanceof kit.WebPushError ? e.code : `untyped: ${e}`))),
    options);
    assert.equal(outcome, expected);
    if (expected === 'resolved') {
      assert.deepEqual(await stored(subscription.endpoint), { user_id: user });
      const found = await page.evaluate((opts) => import('/webpush-client.js').then(async (kit) =>
        (await kit.getSubscription(opts) || {}).endpoint || null), options);
      assert.equal(found, subscription.endpoint, 'getSubscription() finds the worker\'s subscription');
      const removed = await page.evaluate((opts) => import('/webpush-client.js').then((kit) => kit.unsubscribe(opts)), options);
      assert.equal(removed, true);
      assert.equal(await stored(subscription.endpoint), null, 'unsubscribe() removed it from the server');
    } else {
      assert.equal(await stored(subscription.endpoint), null, 'nothing stored');
    }
    await context.close();
  });
}

test('a renewal in the service worker carries the headers and body members the page gave subscribe()', LIMIT, async () => {
  const { context, page, subscription, user } = await newPage();
  await page.evaluate(() => import('/webpush-client.js').then((kit) =>
    kit.subscribe({ headers: { 'X-CSRF-Token': 'token-1' }, body: { device: 'laptop' } })));
  assert.deepEqual(await stored(subscription.endpoint), { user_id: user });

  const renewed = service.subscribe();
  const worker = await serviceWorkerOf(context);
  const posts = await worker.evaluate(async ({ fake, renewed, endpoint }) => {
    (0, eval)(`(${fake})`)(renewed);
    const seen = [];
    const realFetch = self.fetch;
    self.fetch = (url, init = {}) => {
      if (init.method === 'POST') seen.push({ url: String(url), headers: init.headers, body: JSON.parse(init.body) });
      return realFetch(url, init);
    };
    const event = new Event('pushsubscriptionchange');
    let done;
    event.waitUntil = (promise) => { done = promise; };
    event.oldSubscription = { endpoint, options: {} };
    self.dispatchEvent(event);
    await done;
    self.fetch = realFetch;
    return seen;
  }, { fake: fakePushManager.toString(), renewed, endpoint: subscription.endpoint });

  assert.equal(posts.length, 1);
  assert.equal(posts[0].headers['X-CSRF-Token'], 'token-1');
  assert.equal(posts[0].body.device, 'laptop');
  assert.equal(posts[0].body.oldEndpoint, subscription.endpoint);
  assert.deepEqual(await stored(renewed.endpoint), { user_id: user }, 'the renewal was stored for the same user');
  await context.close();
});

test('the screenshot of the demo page was written', LIMIT, () => {
  assert.ok(fs.statSync(SCREENSHOT).size > 1000);
});
