// webpush-client.js: the browser half of the webpush PostgreSQL extension.
//
// An ES module with no dependencies (dist/webpush-client.classic.js is the
// same as a classic script, window.WebPush).  Serve it and client/sw.js
// from your site, then from a button's click handler:
//
//   import { subscribe, WebPushError } from '/webpush-client.js';
//   button.onclick = async () => {
//     try { await subscribe(); } catch (e) { if (e instanceof WebPushError) show(e.code); }
//   };
//
// Your server needs three routes (examples/express has them):
//   GET    /api/key           -> {"applicationServerKey": SELECT webpush_keys()}
//   POST   /api/subscription  {subscription, oldEndpoint?, applicationServerKey}
//                                                      -> webpush_subscribe(..., server_key)
//   DELETE /api/subscription  {endpoint}                   -> webpush_unsubscribe()
// and, with subscribe({receiptUrl: '/api/receipts'}), one for receipts:
//   POST   /api/receipts      {receipts: [...]}               -> webpush_receipts()

const DEFAULTS = {
  serviceWorker: '/sw.js',     // URL of client/sw.js on your site
  scope: undefined,            // service worker scope (default: the script's folder)
  applicationServerKey: null,  // webpush_keys(); fetched from keyUrl when null
  keyUrl: '/api/key',
  subscriptionUrl: '/api/subscription',
  receiptUrl: null,            // where sw.js reports shown/clicked/closed; none when null
  headers: {},                 // extra request headers, e.g. a CSRF token
  body: {},                    // extra members of the POST body
  defaultTitle: undefined,     // sw.js's title for a push that has none
};

// The browser's IANA time zone ('Europe/Paris'), sent with the subscription
// as timeZone: webpush_subscribe stores it, for sends at a local time.
function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}

// Why an operation failed, as a stable string in error.code.
export const ErrorCode = Object.freeze({
  UNSUPPORTED: 'unsupported',                  // no service worker, PushManager or Notification
  PERMISSION_DENIED: 'permission-denied',      // the user (or a policy) blocked notifications
  PERMISSION_DISMISSED: 'permission-dismissed', // the prompt was closed without an answer
  SUBSCRIBE_FAILED: 'subscribe-failed',        // the browser's push service refused
  SERVER: 'server-error',                      // your server answered with an error
  NETWORK: 'network-error',                    // your server could not be reached
  SERVICE_WORKER: 'service-worker-failed',     // sw.js could not be registered or activated
});

export class WebPushError extends Error {
  // details: { cause, status, body } where they apply
  constructor(code, message, details = {}) {
    super(message, details.cause ? { cause: details.cause } : undefined);
    this.name = 'WebPushError';
    this.code = code;
    this.status = details.status;
    this.body = details.body;
  }
}

// Service workers, the Push API and notifications are all needed, and only
// secure contexts (https, or http://localhost) have them.
export function isSupported() {
  return typeof window !== 'undefined' && window.isSecureContext === true &&
    'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

// base64url (as webpush_keys() returns it) to the bytes PushManager wants.
export function urlBase64ToUint8Array(text) {
  const base64 = (text + '='.repeat((4 - (text.length % 4)) % 4)).replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(base64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

// The reverse: a key the browser holds (an ArrayBuffer), as base64url text.
export function uint8ArrayToUrlBase64(buffer) {
  let raw = '';
  for (const byte of new Uint8Array(buffer)) raw += String.fromCharCode(byte);
  return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// Notification.requestPermission() returns a promise in current browsers and
// takes a callback in older Safari; handle both, whichever answers first.
export function requestPermission() {
  if (Notification.permission !== 'default') return Promise.resolve(Notification.permission);
  return new Promise((resolve, reject) => {
    try {
      const answer = Notification.requestPermission(resolve);
      if (answer && typeof answer.then === 'function') answer.then(resolve, reject);
    } catch (err) {
      reject(err);
    }
  });
}

function unsupported() {
  return new WebPushError(ErrorCode.UNSUPPORTED,
    'This browser cannot receive push notifications here (it needs service workers, the Push API and ' +
    'notifications, in a secure context: https or http://localhost).');
}

async function callServer(url, method, payload, options) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', ...options.headers },
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
  } catch (err) {
    throw new WebPushError(ErrorCode.NETWORK, `Could not reach ${url}: ${err.message}`, { cause: err });
  }
  const text = await response.text();
  let body = text;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON: keep the text */ }
  if (!response.ok) {
    const reason = (body && body.error) || text || response.statusText;
    throw new WebPushError(ErrorCode.SERVER, `${method} ${url} failed with ${response.status}: ${reason}`,
      { status: response.status, body });
  }
  return body;
}

async function serverKey(options) {
  if (options.applicationServerKey) return options.applicationServerKey;
  const body = await callServer(options.keyUrl, 'GET', undefined, options);
  const key = body && (body.applicationServerKey || body.publicKey);
  if (typeof key !== 'string') {
    throw new WebPushError(ErrorCode.SERVER, `${options.keyUrl} did not return {"applicationServerKey": ...}`, { body });
  }
  return key;
}

function sameBytes(a, b) {
  if (!a || !b) return false;
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

// The service worker learns where to send a renewed subscription from its
// own URL, since it cannot read this module's options.
function workerUrl(options) {
  const url = new URL(options.serviceWorker, location.href);
  url.searchParams.set('subscriptionUrl', new URL(options.subscriptionUrl, location.href).pathname);
  url.searchParams.set('keyUrl', new URL(options.keyUrl, location.href).pathname);
  if (options.receiptUrl) url.searchParams.set('receiptUrl', new URL(options.receiptUrl, location.href).pathname);
  if (options.defaultTitle) url.searchParams.set('defaultTitle', options.defaultTitle);
  return url.href;
}

// The registration these options name, whether or not it controls this page
// (a worker served from /static/ has the scope /static/, and
// navigator.serviceWorker.ready would wait for ever on a page outside it).
async function findRegistration(options) {
  const scope = options.scope ? new URL(options.scope, location.href).href : null;
  const script = new URL(options.serviceWorker, location.href).pathname;
  const registrations = await navigator.serviceWorker.getRegistrations();
  return registrations.find((r) => {
    if (scope) return r.scope === scope;
    const worker = r.active || r.waiting || r.installing;
    return worker && new URL(worker.scriptURL).pathname === script;
  }) || null;
}

function serviceWorkerError(message, cause) {
  return new WebPushError(ErrorCode.SERVICE_WORKER, message, cause ? { cause } : {});
}

// Resolves once the registration has an active worker (PushManager needs
// one); rejects if its worker fails to install.
function activated(registration) {
  if (registration.active) return Promise.resolve(registration);
  const worker = registration.installing || registration.waiting;
  if (!worker) return Promise.reject(serviceWorkerError('The service worker registration has no worker.'));
  return new Promise((resolve, reject) => {
    worker.addEventListener('statechange', () => {
      if (worker.state === 'activated') resolve(registration);
      else if (worker.state === 'redundant') {
        reject(serviceWorkerError(`The service worker ${worker.scriptURL} failed to install.`));
      }
    });
  });
}

// What sw.js sends along when it renews a subscription on its own
// (pushsubscriptionchange) or reports receipts: the page's extra headers
// and body members, and receiptUrl (for a service worker of your own that
// imports the kit's handlers), kept in Cache Storage, which the page and
// its worker share.
const RENEWAL_CACHE = 'webpush-client';
const renewalKey = (registration) => new URL('__webpush-renewal__', registration.scope).href;

async function saveRenewalOptions(registration, options) {
  try {
    const cache = await caches.open(RENEWAL_CACHE);
    await cache.put(renewalKey(registration), new Response(JSON.stringify(
      {
        headers: options.headers || {},
        body: options.body || {},
        receiptUrl: options.receiptUrl ? new URL(options.receiptUrl, location.href).href : null,
      }),
    { headers: { 'content-type': 'application/json' } }));
  } catch {
    // No Cache Storage (a private window in some browsers): renewals then
    // carry no extra headers (docs/browser-kit.md, "Renewals").
  }
}

// Subscribes this browser and stores the subscription on the server.
// Call it from a user gesture (a click): browsers ignore or penalise
// permission prompts that appear on their own.  Resolves to the
// PushSubscription; rejects with a WebPushError.
export async function subscribe(userOptions = {}) {
  const options = { ...DEFAULTS, ...userOptions };
  if (!isSupported()) throw unsupported();

  // Ask first, while the click's user activation is still fresh: Safari and
  // Firefox only show the prompt during the gesture.
  const permission = await requestPermission();
  if (permission === 'denied') {
    throw new WebPushError(ErrorCode.PERMISSION_DENIED,
      'Notifications are blocked for this site; the user can allow them in the browser\'s site settings.');
  }
  if (permission !== 'granted') {
    throw new WebPushError(ErrorCode.PERMISSION_DISMISSED, 'The permission prompt was dismissed; ask again later.');
  }

  let registration;
  try {
    registration = await navigator.serviceWorker.register(workerUrl(options),
      options.scope ? { scope: options.scope } : undefined);
  } catch (err) {
    throw serviceWorkerError(`Could not register the service worker ${options.serviceWorker}: ${err.message}`, err);
  }
  await activated(registration);
  await saveRenewalOptions(registration, options);
  const key = urlBase64ToUint8Array(await serverKey(options));

  let subscription = await registration.pushManager.getSubscription();
  let oldEndpoint;
  if (subscription && !sameBytes(subscription.options.applicationServerKey, key)) {
    // Made for an older server key (webpush_keys_rotate() or _import()
    // since): move onto the current one.  The old key keeps signing for the
    // old subscription until then, so nothing was lost meanwhile.
    oldEndpoint = subscription.endpoint;
    await subscription.unsubscribe();
    subscription = null;
  }
  if (!subscription) {
    try {
      subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    } catch (err) {
      throw new WebPushError(ErrorCode.SUBSCRIBE_FAILED, `The browser could not subscribe: ${err.message}`, { cause: err });
    }
  }
  // Sent even when the subscription was already there: the server may have
  // lost it (a 410 from the push service deletes it), and storing is idempotent.
  // The server key it was made with goes along: webpush_subscribe binds the
  // subscription to it (server_key), so sends sign with that key.
  await callServer(options.subscriptionUrl, 'POST',
    {
      ...options.body,
      subscription: { ...subscription.toJSON(), timeZone: browserTimeZone() },
      oldEndpoint,
      applicationServerKey: uint8ArrayToUrlBase64(subscription.options.applicationServerKey),
    }, options);
  return subscription;
}

// The current subscription of this browser, or null.
export async function getSubscription(userOptions = {}) {
  const options = { ...DEFAULTS, ...userOptions };
  if (!isSupported()) return null;
  const registration = await findRegistration(options);
  return registration ? registration.pushManager.getSubscription() : null;
}

// Removes the subscription from the server, then from the browser (in that
// order, so that a server error leaves both still subscribed, and a retry
// works).  Resolves to true if there was one.
export async function unsubscribe(userOptions = {}) {
  const options = { ...DEFAULTS, ...userOptions };
  const subscription = await getSubscription(options);
  if (!subscription) return false;
  await callServer(options.subscriptionUrl, 'DELETE', { ...options.body, endpoint: subscription.endpoint }, options);
  await subscription.unsubscribe();
  return true;
}
