// sw.js: the service worker of the webpush browser kit.  Serve it from your
// site (the folder it is served from is its scope: serve it from / to cover
// the whole site).  webpush-client.js registers it.
//
// Payload convention (what webpush_notification() builds in SQL):
//   {"title": "Order shipped",         required for a JSON payload to be used as one
//    "body": "Your teapot is on its way",
//    "url": "/orders/42",              opened or focused on click (default: the site's root)
//    "icon": "/icon.png", "badge": "/badge.png", "image": "/big.png",
//    "tag": "order-42",                a newer notification with the same tag replaces it
//    "requireInteraction": false, "silent": false,
//    "data": {...}}                    anything, handed to the page on click
// A payload that is not such an object is shown as the body of a notification
// with the default title; a push without payload shows the default title.
//
// Options come from the query string of the script URL, which
// webpush-client.js sets from subscribe()'s options: subscriptionUrl,
// keyUrl, and defaultTitle when given.  A renewal (pushsubscriptionchange)
// sends the headers and body members the page last passed to subscribe(),
// which webpush-client.js keeps in Cache Storage for this worker.

'use strict';

const config = new URL(self.location.href).searchParams;
const SUBSCRIPTION_URL = config.get('subscriptionUrl') || '/api/subscription';
const KEY_URL = config.get('keyUrl') || '/api/key';
const DEFAULT_TITLE = config.get('defaultTitle') || 'New notification';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// The title and NotificationOptions for a push message's data (or null).
function notificationFor(data) {
  if (!data) return { title: DEFAULT_TITLE, options: {} };
  let message;
  try {
    message = data.json();
  } catch {
    message = null;
  }
  if (!message || typeof message !== 'object' || Array.isArray(message) || typeof message.title !== 'string') {
    return { title: DEFAULT_TITLE, options: { body: data.text() } };
  }
  const options = {};
  for (const key of ['body', 'icon', 'badge', 'image', 'tag', 'lang', 'dir']) {
    if (typeof message[key] === 'string') options[key] = message[key];
  }
  for (const key of ['requireInteraction', 'silent', 'renotify']) {
    if (typeof message[key] === 'boolean') options[key] = message[key];
  }
  if (options.renotify && !options.tag) delete options.renotify; // browsers throw otherwise
  if (typeof message.timestamp === 'number') options.timestamp = message.timestamp;
  options.data = { url: typeof message.url === 'string' ? message.url : null, data: message.data };
  return { title: message.title || DEFAULT_TITLE, options };
}

// A push must show a notification before its promise settles: browsers
// penalise (and Chrome eventually unsubscribes) silent pushes.
self.addEventListener('push', (event) => {
  const { title, options } = notificationFor(event.data);
  event.waitUntil((async () => {
    await self.registration.showNotification(title, options);
    // Open pages of the site may want to update themselves too.
    const windows = await self.clients.matchAll({ type: 'window' });
    for (const client of windows) client.postMessage({ type: 'webpush:push', title, options });
  })());
});

// Only http(s) URLs are opened; a relative one is resolved against the site.
function clickTarget(url) {
  try {
    const target = new URL(url || '/', self.location.origin);
    return target.protocol === 'https:' || target.protocol === 'http:' ? target : null;
  } catch {
    return null;
  }
}

self.addEventListener('notificationclick', (event) => {
  const notification = event.notification;
  notification.close();
  const target = clickTarget(notification.data && notification.data.url);
  if (!target) return;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const open = windows.find((c) => c.url === target.href) ||
      (!(notification.data && notification.data.url) && windows[0]);
    if (open && 'focus' in open) {
      await open.focus();
      open.postMessage({ type: 'webpush:click', data: notification.data && notification.data.data });
      return;
    }
    await self.clients.openWindow(target.href);
  })());
});

function urlBase64ToUint8Array(text) {
  const base64 = (text + '='.repeat((4 - (text.length % 4)) % 4)).replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

// The headers and body members the page gave subscribe() (webpush-client.js
// saved them for this registration), or none.
async function renewalOptions() {
  try {
    const cache = await caches.open('webpush-client');
    const saved = await cache.match(new URL('__webpush-renewal__', self.registration.scope).href);
    const options = saved ? await saved.json() : {};
    return { headers: options.headers || {}, body: options.body || {} };
  } catch {
    return { headers: {}, body: {} };
  }
}

// The browser replaced or expired the subscription (Firefox does this; Chrome
// rarely).  Subscribe again with the same server key and tell the server,
// naming the old endpoint so it can drop it.
async function renewSubscription(oldSubscription, newSubscription) {
  let subscription = newSubscription;
  if (!subscription) {
    let key = oldSubscription && oldSubscription.options && oldSubscription.options.applicationServerKey;
    if (!key) {
      const response = await fetch(KEY_URL, { credentials: 'same-origin' });
      if (!response.ok) throw new Error(`${KEY_URL} answered ${response.status}`);
      key = urlBase64ToUint8Array((await response.json()).applicationServerKey);
    }
    subscription = await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  }
  const extra = await renewalOptions();
  const response = await fetch(SUBSCRIPTION_URL, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', ...extra.headers },
    body: JSON.stringify({
      ...extra.body,
      subscription: subscription.toJSON(),
      oldEndpoint: oldSubscription ? oldSubscription.endpoint : undefined,
      applicationServerKey: btoa(String.fromCharCode(...new Uint8Array(subscription.options.applicationServerKey)))
        .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
    }),
  });
  if (!response.ok) throw new Error(`${SUBSCRIPTION_URL} answered ${response.status}`);
}

self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil(renewSubscription(event.oldSubscription, event.newSubscription));
});
