// webpush-sw.js: the service worker half of the webpush browser kit, as an
// ES module.  client/sw.js is the same code as a complete classic service
// worker, and dist/webpush-sw.classic.js the same for importScripts() into
// a service worker you already have (client/build.mjs makes both).
//
// In your own module service worker:
//   import { installWebPush } from './webpush-sw.js';
//   installWebPush({ receiptUrl: '/api/receipts' });
// In a classic one (Workbox, a PWA):
//   importScripts('/webpush-sw.classic.js');
//   WebPushSW.installWebPush({ receiptUrl: '/api/receipts' });
//
// What it shows (what webpush_notification() and webpush_notify() build):
// - Declarative Web Push: {"web_push": 8030, "notification": {"title",
//   "navigate", "body", "actions": [{"action", "title", "navigate"}], ...},
//   "app_badge": N, "mutable": bool}.  Safari shows these itself; other
//   browsers (and Safari for a mutable one) bring them here.
// - The older convention: {"title", "body", "url", "icon", "badge",
//   "image", "tag", "actions", "data", ...}.
// - Anything else: its text as the body, under the default title.
// A payload's "receipt": {"message", "subscription"} (written by the
// extension's worker) makes the notification report "shown", "clicked"
// (with the action) and "closed" to receiptUrl, batched, with the headers
// the page gave subscribe(), and kept for a later try while offline.

const CACHE = 'webpush-client';
const DEFAULT_OPTIONS = {
  subscriptionUrl: '/api/subscription',
  keyUrl: '/api/key',
  receiptUrl: null,
  defaultTitle: 'New notification',
};

let options = { ...DEFAULT_OPTIONS };

// The settings webpush-client.js saved for this registration: the page's
// extra headers and body members, and receiptUrl.
async function savedSettings() {
  try {
    const cache = await caches.open(CACHE);
    const saved = await cache.match(new URL('__webpush-renewal__', self.registration.scope).href);
    const settings = saved ? await saved.json() : {};
    return { headers: settings.headers || {}, body: settings.body || {}, receiptUrl: settings.receiptUrl || null };
  } catch {
    return { headers: {}, body: {}, receiptUrl: null };
  }
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function copyMembers(from, to, keys, type) {
  for (const key of keys) if (typeof from[key] === type) to[key] = from[key];
}

// The browser's IANA time zone ('Europe/Paris'), sent with the subscription
// as timeZone: webpush_subscribe stores it, for sends at a local time.
function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}

// The title, NotificationOptions and receipt ids of a push message's
// payload (a parsed JSON value, a string, or null for none).
export function notificationFor(payload, defaultTitle = options.defaultTitle) {
  if (payload === null || payload === undefined || payload === '') return { title: defaultTitle, options: {}, receipt: null };
  const declarative = isObject(payload) && payload.web_push === 8030 && isObject(payload.notification) &&
    typeof payload.notification.title === 'string';
  const message = declarative ? payload.notification : payload;
  if (!isObject(message) || typeof message.title !== 'string') {
    return { title: defaultTitle, options: { body: typeof payload === 'string' ? payload : JSON.stringify(payload) }, receipt: null };
  }
  const result = {};
  copyMembers(message, result, ['body', 'icon', 'badge', 'image', 'tag', 'lang', 'dir'], 'string');
  copyMembers(message, result, ['requireInteraction', 'silent', 'renotify'], 'boolean');
  if (result.renotify && !result.tag) delete result.renotify; // browsers throw otherwise
  if (typeof message.timestamp === 'number') result.timestamp = message.timestamp;
  if (Array.isArray(message.vibrate) && message.vibrate.every((n) => typeof n === 'number')) result.vibrate = message.vibrate;
  const navigate = {};
  if (Array.isArray(message.actions)) {
    result.actions = message.actions
      .filter((a) => isObject(a) && typeof a.action === 'string' && typeof a.title === 'string')
      .map((a) => {
        if (typeof a.navigate === 'string') navigate[a.action] = a.navigate;
        return typeof a.icon === 'string' ? { action: a.action, title: a.title, icon: a.icon } : { action: a.action, title: a.title };
      });
  }
  const receipt = isObject(payload.receipt) && payload.receipt.message !== undefined ? payload.receipt : null;
  const badge = typeof payload.app_badge === 'number' ? payload.app_badge
    : typeof message.app_badge === 'number' ? message.app_badge : undefined;
  const url = declarative ? message.navigate : message.url;
  result.data = { url: typeof url === 'string' ? url : null, data: message.data, navigate, receipt };
  return { title: message.title || defaultTitle, options: result, receipt, appBadge: badge, declarative };
}

function parse(data) {
  if (!data) return null;
  try {
    return data.json();
  } catch {
    return data.text();
  }
}

// event.waitUntil, which throws for an event the page dispatched itself
// (tests do, as headless browsers cannot click a notification).
function keepAlive(event, promise) {
  try {
    event.waitUntil(promise);
  } catch {
    // Not dispatched by the browser: nothing to keep alive.
  }
  return promise;
}

// Receipts -------------------------------------------------------------------

let pending = null;      // receipts not yet accepted by the server
let sending = null;      // the flush in flight
const RECEIPTS_KEY = () => new URL('__webpush-receipts__', self.registration.scope).href;

async function loadPending() {
  if (pending) return pending;
  pending = [];
  try {
    const saved = await (await caches.open(CACHE)).match(RECEIPTS_KEY());
    if (saved) pending = await saved.json();
  } catch {
    // No Cache Storage: receipts then live as long as this worker.
  }
  return pending;
}

async function savePending() {
  try {
    await (await caches.open(CACHE)).put(RECEIPTS_KEY(), new Response(JSON.stringify(pending),
      { headers: { 'content-type': 'application/json' } }));
  } catch {
    // See loadPending.
  }
}

// Queues one receipt and sends what is queued.  The same event for the
// same notification is queued once; the server stores it once anyway.
export async function recordReceipt(receipt, event, action) {
  if (!receipt) return;
  const list = await loadPending();
  const entry = { message: receipt.message, subscription: receipt.subscription, event, at: Date.now() };
  if (action) entry.action = action;
  if (!list.some((r) => r.message === entry.message && r.subscription === entry.subscription && r.event === event)) {
    list.push(entry);
    await savePending();
  }
  await flushReceipts();
}

// POSTs every queued receipt in one request ({receipts: [...]}) to
// receiptUrl.  A network error or a 5xx keeps them for the next flush
// (the next notification, a Background Sync, or the next start of the
// worker); a 2xx or another 4xx (a refusal that retrying cannot change)
// drops them.
export async function flushReceipts() {
  // One request at a time: a flush asked for meanwhile sends what is left.
  while (sending) await sending;
  if (pending && pending.length === 0) return;
  sending = (async () => {
    const list = await loadPending();
    const settings = await savedSettings();
    const url = options.receiptUrl || settings.receiptUrl;
    if (!url || list.length === 0) return;
    const batch = list.slice();
    let response;
    try {
      response = await fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', ...settings.headers },
        body: JSON.stringify({ ...settings.body, receipts: batch }),
      });
    } catch {
      if (self.registration.sync) self.registration.sync.register('webpush-receipts').catch(() => {});
      return;
    }
    if (response.status >= 500) return;
    pending = list.filter((r) => !batch.includes(r));
    await savePending();
  })();
  try {
    await sending;
  } finally {
    sending = null;
  }
}

// Handlers -------------------------------------------------------------------

// A push must show a notification before its promise settles: browsers
// penalise (and Chrome eventually unsubscribes) silent pushes.
export async function handlePush(event) {
  const { title, options: shown, receipt, appBadge } = notificationFor(parse(event.data));
  await self.registration.showNotification(title, shown);
  if (appBadge !== undefined && self.navigator && 'setAppBadge' in self.navigator) {
    await (appBadge === 0 ? self.navigator.clearAppBadge() : self.navigator.setAppBadge(appBadge)).catch(() => {});
  }
  // Open pages of the site may want to update themselves too.
  const windows = await self.clients.matchAll({ type: 'window' });
  for (const client of windows) client.postMessage({ type: 'webpush:push', title, options: shown });
  await recordReceipt(receipt, 'shown');
}

// Only http(s) URLs are opened; a relative one is resolved against the site.
function clickTarget(url) {
  try {
    const target = new URL(url || '/', self.location.origin);
    return target.protocol === 'https:' || target.protocol === 'http:' ? target : null;
  } catch {
    return null;
  }
}

// A click on the notification or one of its actions: the action's
// navigate, else the notification's url.  A tab that already shows it is
// focused; otherwise a window opens, or, where the browser refuses one, an
// open tab of the site goes there.
export async function handleClick(event) {
  const notification = event.notification;
  const data = notification.data || {};
  const action = event.action || '';
  notification.close();
  const receipted = recordReceipt(data.receipt, 'clicked', action);
  const url = (action && data.navigate && data.navigate[action]) || data.url;
  const target = clickTarget(url);
  if (target) {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const open = windows.find((c) => c.url === target.href) || (!url && windows[0]);
    const message = { type: 'webpush:click', action, data: data.data };
    if (open) {
      if ('focus' in open) await open.focus().catch(() => {});
      open.postMessage(message);
    } else {
      const opened = await self.clients.openWindow(target.href).catch(() => null);
      if (!opened) {
        const tab = windows.find((c) => 'navigate' in c);
        if (tab) await tab.navigate(target.href).catch(() => {});
      }
    }
  }
  await receipted;
}

export async function handleClose(event) {
  const data = event.notification.data || {};
  await recordReceipt(data.receipt, 'closed');
}

function urlBase64ToUint8Array(text) {
  const base64 = (text + '='.repeat((4 - (text.length % 4)) % 4)).replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

// The browser replaced or expired the subscription (Firefox does this; Chrome
// rarely).  Subscribe again with the same server key and tell the server,
// naming the old endpoint so it can drop it.
export async function renewSubscription(oldSubscription, newSubscription) {
  let subscription = newSubscription;
  if (!subscription) {
    let key = oldSubscription && oldSubscription.options && oldSubscription.options.applicationServerKey;
    if (!key) {
      const response = await fetch(options.keyUrl, { credentials: 'same-origin' });
      if (!response.ok) throw new Error(`${options.keyUrl} answered ${response.status}`);
      key = urlBase64ToUint8Array((await response.json()).applicationServerKey);
    }
    subscription = await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  }
  const extra = await savedSettings();
  const response = await fetch(options.subscriptionUrl, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', ...extra.headers },
    body: JSON.stringify({
      ...extra.body,
      subscription: { ...subscription.toJSON(), timeZone: browserTimeZone() },
      oldEndpoint: oldSubscription ? oldSubscription.endpoint : undefined,
      applicationServerKey: btoa(String.fromCharCode(...new Uint8Array(subscription.options.applicationServerKey)))
        .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
    }),
  });
  if (!response.ok) throw new Error(`${options.subscriptionUrl} answered ${response.status}`);
}

// Adds the kit's listeners (push, notificationclick, notificationclose,
// pushsubscriptionchange, and a Background Sync that retries receipts) to
// this service worker.  Options: subscriptionUrl, keyUrl, receiptUrl (else
// the one the page gave subscribe()), defaultTitle.  Call it once, at the
// top level of the worker script (browsers only take listeners added
// there).
export function installWebPush(userOptions = {}) {
  options = { ...DEFAULT_OPTIONS };
  for (const [key, value] of Object.entries(userOptions)) if (value) options[key] = value;
  self.addEventListener('push', (event) => keepAlive(event, handlePush(event)));
  self.addEventListener('notificationclick', (event) => keepAlive(event, handleClick(event)));
  self.addEventListener('notificationclose', (event) => keepAlive(event, handleClose(event)));
  self.addEventListener('pushsubscriptionchange', (event) =>
    keepAlive(event, renewSubscription(event.oldSubscription, event.newSubscription)));
  self.addEventListener('sync', (event) => {
    if (event.tag === 'webpush-receipts') keepAlive(event, flushReceipts());
  });
  return options;
}
