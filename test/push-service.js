'use strict';
// A Web Push service on loopback, for tests and the demo.
//
// It plays the browser vendor's side of RFC 8030: it hands out subscriptions
// (a P-256 key pair and auth secret it keeps, as a browser would), and for
// every POST to an endpoint it checks the request as a strict push service
// would: headers, the VAPID JWT (verified with `jose`), and the aes128gcm
// body (decrypted with `http_ece`). None of the extension's own code is used.
// Responses can be scripted per subscription to inject failures.
//
// A subscription may belong to a vendor (subscribe({ vendor })): its
// endpoint is /apple/N, /mozilla/N, /fcm/N or /wns/N, and each request to it
// must also keep that vendor's own rules (VENDOR_RULES below), or it is
// answered as that vendor answers and counted in rejections.
//
// A Mozilla subscription's accepted message names its push message resource
// (RFC 8030 §5) in a Location, https://<service>/m/<id>, as autopush does;
// FCM's too (PROTOCOL.md, section 8), at /m/fcm-<id>. While a subscription is
// held (hold(endpoint): the browser is offline) what it is sent waits at the
// service; DELETE /m/<id> with the sender's VAPID Authorization removes a
// message that waits (204), and is 404 for one the browser has (or FCM's).
// browser(endpoint) is what the browser got.
//
// As a program: node push-service.js --port N --key K --cert C [--subscription FILE] [--pretty]
// writes one subscription to FILE, and prints each decrypted message as a
// JSON line on stdout (--pretty: a line a person reads, for development).

const crypto = require('node:crypto');
const http2 = require('node:http2');
const fs = require('node:fs');
const ece = require('http_ece');
const jose = require('jose');

const URGENCIES = new Set(['very-low', 'low', 'normal', 'high']);
const B64URL = /^[A-Za-z0-9_-]+$/;
const VENDORS = ['apple', 'mozilla', 'fcm', 'wns'];
const DAY = 24 * 3600;
const HOUR = 3600;

// Hosts that are not on the internet: Apple refuses a sub at one of them.
const PLACEHOLDER_HOST = /(^|\.)(localhost|invalid|local|test|example)$|^[\d.]+$|^\[|:/i;

// Why Apple refuses a VAPID sub, or null: a bare mailto: address or an
// https: URL, at a domain on the internet.
function appleSubjectProblem(sub) {
  if (typeof sub !== 'string') return 'no sub';
  let host;
  if (sub.startsWith('mailto:')) {
    const m = /^mailto:[^\s<>@"(),;:]+@([A-Za-z0-9.-]+)$/.exec(sub);
    if (!m) return `sub ${JSON.stringify(sub)} is not a bare mailto: address`;
    host = m[1];
  } else if (sub.startsWith('https:')) {
    try { host = new URL(sub).hostname; } catch (e) { return `sub ${JSON.stringify(sub)} is not a URL`; }
  } else {
    return `sub ${JSON.stringify(sub)} is neither mailto: nor https:`;
  }
  if (PLACEHOLDER_HOST.test(host) || !host.includes('.')) return `sub ${JSON.stringify(sub)} is not at a domain on the internet`;
  return null;
}

// The unverified claims of the JWT in a VAPID Authorization, or null.
function vapidToken(h) {
  const auth = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(h.authorization || '');
  if (!auth) return null;
  try {
    return { jwt: auth[1], key: auth[2], claims: jose.decodeJwt(auth[1]) };
  } catch (e) {
    return null;
  }
}

// Autopush's error body (errno: autopush's error numbers).
function mozillaError(code, errno, message) {
  const names = { 400: 'Bad Request', 401: 'Unauthorized', 410: 'Gone', 413: 'Payload Too Large' };
  return {
    status: code,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code, errno, error: names[code], message }),
  };
}

function appleError(status, reason) {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason }) };
}

// Each vendor's rules: rules(service, sub, req, body) returns the answer
// that vendor gives to a request breaking one (its reason in .reason), or
// null; stale is its answer for a subscription marked stale, throttled for
// one being throttled (seconds: the Retry-After).
const VENDOR_RULES = {
  apple: {
    rules(service, sub, req) {
      const token = vapidToken(req.headers);
      if (!token) return { ...appleError(403, 'MissingProviderToken'), reason: 'no VAPID token' };
      const now = Math.floor(Date.now() / 1000);
      const subject = appleSubjectProblem(token.claims.sub);
      if (subject) return { ...appleError(403, 'BadJwtToken'), reason: subject };
      if (!(token.claims.exp > now && token.claims.exp <= now + DAY)) {
        return { ...appleError(403, 'BadJwtToken'), reason: `exp ${token.claims.exp} is not within a day` };
      }
      // Apple asks for a token to be signed again at most once an hour.
      const seen = service.appleTokens.get(`${token.claims.aud} ${token.key}`);
      if (seen && seen.jwt !== token.jwt && now - seen.since < HOUR) {
        return { ...appleError(403, 'BadJwtToken'), reason: `a new token for ${token.claims.aud} ${now - seen.since} s after the last` };
      }
      if (!seen || seen.jwt !== token.jwt) service.appleTokens.set(`${token.claims.aud} ${token.key}`, { jwt: token.jwt, since: now });
      return null;
    },
    stale: () => appleError(410, 'Unregistered'),
    throttled: (seconds) => ({ ...appleError(429, 'TooManyRequests'), headers: { 'content-type': 'application/json', 'retry-after': String(seconds) } }),
  },
  mozilla: {
    rules(service, sub, req, body) {
      const h = req.headers;
      const fail = (code, errno, message) => ({ ...mozillaError(code, errno, message), reason: message });
      if (h.ttl === undefined) return fail(400, 111, 'Missing TTL header');
      if (!/^\d+$/.test(h.ttl)) return fail(400, 112, 'Invalid TTL header value');
      if (h.topic !== undefined && (!B64URL.test(h.topic) || h.topic.length > 32)) {
        return fail(400, 113, 'Topic must be no greater than 32 characters and use the URL and filename safe Base64 alphabet');
      }
      const token = vapidToken(h);
      const now = Math.floor(Date.now() / 1000);
      if (!token || !(token.claims.exp > now && token.claims.exp <= now + DAY)) {
        return fail(401, 109, 'Unauthorized: a VAPID token whose exp is within 24 hours is required');
      }
      if (body.length > service.vendorLimits.mozilla) return fail(413, 104, 'This message is intended for a constrained device and is limited in size. Converted buffer is too long by ' + (body.length - service.vendorLimits.mozilla) + ' bytes');
      return null;
    },
    stale: () => mozillaError(410, 106, 'Subscription has expired'),
    throttled: (seconds) => ({ ...mozillaError(429, 999, 'Too Many Requests'), headers: { 'content-type': 'application/json', 'retry-after': String(seconds) } }),
  },
  fcm: {
    rules(service, sub, req, body) {
      if (body.length > service.vendorLimits.fcm) return { status: 413, body: 'The payload is too large.', reason: `a body of ${body.length} bytes` };
      return null;
    },
    stale: () => ({ status: 404, body: 'A valid push subscription endpoint should be specified in the URL as such: https://fcm.googleapis.com/wp/dHIoDxE7Hdg:APA91bH1Zj0kNa...' }),
    throttled: (seconds) => ({ status: 429, headers: { 'retry-after': String(seconds) }, body: 'Quota exceeded.' }),
  },
  wns: {
    rules(service, sub, req, body) {
      const wns = (status, description) => ({
        status, headers: { 'x-wns-status': 'dropped', 'x-wns-error-description': description }, reason: description,
      });
      if (req.headers['content-length'] === undefined) return wns(411, 'Content-Length header is required');
      if (body.length > service.vendorLimits.wns) return wns(413, 'The notification payload exceeds the 5000 byte size limit');
      return null;
    },
    // WNS gives its reason in a header only, the body empty.
    stale: () => ({ status: 410, headers: { 'x-wns-error-description': 'The channel expired' } }),
    throttled: (seconds) => ({
      status: 406,
      headers: { 'retry-after': String(seconds), 'x-wns-status': 'appthrottled', 'x-wns-error-description': 'The channel is throttled' },
    }),
  },
};

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

class PushService {
  constructor() {
    this.subscriptions = new Map(); // id -> { ecdh, auth, responses: [] }
    this.messages = [];             // every accepted or rejected request, in order
    this.problems = [];             // protocol violations seen
    this.waiters = [];
    this.nextId = 1;
    this.truncated = 0;             // requests cut off mid-body (sender died)
    this.sessions = new Set();
    this.defaultResponse = { status: 201 };
    this.verifyEvery = 1;           // benchmarks check a sample only
    this.arrivals = [];             // light mode: receive times
    this.settings = {};             // HTTP/2 SETTINGS, e.g. { maxConcurrentStreams: 5 }
    this.goawayEvery = 0;           // a graceful GOAWAY after every N requests
    this.streams = 0;
    this.refusedAfterGoaway = 0;    // streams that crossed our GOAWAY, refused
    this.rejections = [];           // requests a vendor's rules refused: { vendor, subscription, status, reason }
    this.vendorLimits = { mozilla: 4096, fcm: 4096, wns: 5000 };  // body bytes
    this.appleTokens = new Map();   // "aud key" -> { jwt, since }: the last token Apple saw
    this.resources = new Map();     // message resource id -> { record, sub, state: held|delivered|deleted }
    this.nextResource = 1;
    this.deletes = [];              // every DELETE of a resource: { id, status, vapidKey, aud, errors }
  }

  async start({ key, cert, port = 0, host = '127.0.0.1' }) {
    this.server = http2.createSecureServer({ key, cert, allowHTTP1: true, settings: this.settings },
      (req, res) => this.handle(req, res).catch((err) => {
        this.problems.push(`handler crashed: ${err.stack}`);
        if (!res.headersSent) { res.writeHead(500); }
        res.end();
      }));
    // Every connection, from its first byte (TLS handshakes included), so
    // that stop() can end them all; one that arrives while stopping is ended
    // at once, or server.close() would wait for it for ever.
    this.server.on('session', (s) => {
      if (this.stopping) { s.destroy(); return; }
      this.sessions.add(s);
      s.on('close', () => this.sessions.delete(s));
      // Every stream nghttp2 accepted counts as begun: a GOAWAY naming a
      // lower last stream would disown a stream that is processed anyway,
      // and the client would rightly send it again.
      s.on('stream', (stream) => { s.webpushLastStream = Math.max(s.webpushLastStream || 0, stream.id); });
    });
    this.sockets = new Set();
    this.server.on('connection', (sock) => {
      if (this.stopping) { sock.destroy(); return; }
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, resolve);
    });
    this.port = this.server.address().port;
    this.origin = `https://localhost:${this.port}`;
    return this;
  }

  async stop() {
    this.stopping = true;
    const closed = new Promise((resolve) => this.server.close(resolve));
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  // An outage: connections are reset and refused until resume().
  async pause() {
    await this.stop();
  }

  async resume() {
    this.stopping = false;
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', resolve);
    });
  }

  // A new subscription, as PushSubscription.toJSON() would give it.  Keys
  // made elsewhere can be given (benchmarks make them in another process).
  // vendor: one of VENDORS, whose rules requests to it must keep.
  // locationOrigin: where its message resources are said to be (default:
  // the service's own origin).
  subscribe({ host = 'localhost', privateKey = null, auth: givenAuth = null, applicationServerKey = null, vendor = null, locationOrigin = null } = {}) {
    if (vendor !== null && !VENDORS.includes(vendor)) throw new Error(`no vendor ${vendor}`);
    const id = String(this.nextId++);
    const ecdh = crypto.createECDH('prime256v1');
    if (privateKey) ecdh.setPrivateKey(privateKey); else ecdh.generateKeys();
    const auth = givenAuth || crypto.randomBytes(16);
    this.subscriptions.set(id, { id, ecdh, auth, responses: [], vapidKey: applicationServerKey, vendor, locationOrigin, held: false });
    return {
      endpoint: `https://${host}:${this.port}/${vendor || 'push'}/${id}`,
      expirationTime: null,
      keys: { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(auth) },
    };
  }

  // Script the next responses of a subscription:
  // { status, headers, body, delayMs, until, drop, respondWith } (until: a
  // promise the answer waits for; drop: reset the stream; respondWith(res):
  // an async function that writes the answer).
  respond(endpoint, ...responses) {
    const sub = this.subscriptions.get(endpoint.split('/').pop());
    sub.responses.push(...responses);
  }

  // A vendor's subscription from now on answered as its vendor answers one
  // that expired or was unsubscribed (Apple 410, FCM 404...).
  markStale(endpoint) {
    this.vendorSubscription(endpoint).stale = true;
  }

  // A vendor's subscription throttled for its next n requests: answered
  // as its vendor answers (WNS 406 appthrottled), with Retry-After seconds.
  throttle(endpoint, n, seconds) {
    this.vendorSubscription(endpoint).throttled = { n, seconds };
  }

  vendorSubscription(endpoint) {
    const sub = this.subscriptions.get(endpoint.split('/').pop());
    if (!sub.vendor) throw new Error(`${endpoint} belongs to no vendor`);
    return sub;
  }

  // The browser offline: what its subscription is sent waits at the service.
  hold(endpoint) {
    this.subscriptions.get(endpoint.split('/').pop()).held = true;
  }

  // The browser online again: it gets what waited for it (and was not deleted).
  release(endpoint) {
    const sub = this.subscriptions.get(endpoint.split('/').pop());
    sub.held = false;
    for (const r of this.resources.values()) if (r.sub === sub && r.state === 'held') r.state = 'delivered';
  }

  // The messages the browser got: accepted, neither waiting nor deleted.
  browser(endpoint) {
    const id = endpoint.split('/').pop();
    return this.messages.filter((m) => m.subscription === id && m.status >= 200 && m.status < 300
      && !(m.resource && this.resources.get(m.resource).state !== 'delivered'));
  }

  // A 201's Location, for the vendors that name a message resource.
  messageResource(sub, record) {
    if (sub.vendor !== 'mozilla' && sub.vendor !== 'fcm') return {};
    const id = `${sub.vendor === 'fcm' ? 'fcm-' : ''}${this.nextResource++}`;
    record.resource = id;
    this.resources.set(id, { record, sub, state: sub.held ? 'held' : 'delivered' });
    return { location: `${sub.locationOrigin || this.origin}/m/${id}` };
  }

  // DELETE /m/<id>: autopush removes a message that waits for its browser,
  // for the sender that sent it (its VAPID key); FCM names a resource but
  // keeps none a sender may delete.
  async deleteResource(req, res, id) {
    const resource = this.resources.get(id);
    const record = { id, receivedAt: Date.now(), vapidKey: null, aud: null, errors: [] };
    const answer = (status, body = '') => {
      record.status = status;
      this.deletes.push(record);
      this.notify();
      res.writeHead(status, body ? { 'content-type': 'application/json' } : {});
      res.end(body);
    };
    const auth = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(req.headers.authorization || '');
    try {
      if (!auth) throw new Error(`Authorization is not "vapid t=..., k=...": ${req.headers.authorization}`);
      const k = Buffer.from(auth[2], 'base64url');
      const key = await jose.importJWK({
        kty: 'EC', crv: 'P-256', x: b64url(k.subarray(1, 33)), y: b64url(k.subarray(33)),
      }, 'ES256');
      const { payload } = await jose.jwtVerify(auth[1], key, { algorithms: ['ES256'], audience: this.origin });
      const now = Math.floor(Date.now() / 1000);
      if (!(payload.exp > now && payload.exp <= now + DAY)) throw new Error(`exp ${payload.exp} not within 24 h`);
      record.vapidKey = auth[2];
      record.aud = payload.aud;
      if (resource && resource.sub.vapidKey !== auth[2]) throw new Error('not the key the message was sent with');
    } catch (e) {
      record.errors.push(`VAPID: ${e.message}`);
      if (!resource || resource.sub.vendor === 'mozilla') {
        answer(401, JSON.stringify({ code: 401, errno: 109, error: 'Unauthorized', message: e.message }));
        return;
      }
    }
    if (!resource || resource.sub.vendor !== 'mozilla' || resource.state !== 'held') {
      answer(404, JSON.stringify({ code: 404, errno: 102, error: 'Not Found', message: 'Message not found' }));
      return;
    }
    resource.state = 'deleted';
    answer(204);
  }

  received(endpoint) {
    const id = endpoint.split('/').pop();
    return this.messages.filter((m) => m.subscription === id);
  }

  // Resolves when predicate(messages) is true; rejects after timeoutMs.
  waitFor(predicate, timeoutMs = 10000) {
    timeoutMs *= Number(process.env.WEBPUSH_TEST_SLOW) || 1;
    if (predicate(this.messages)) return Promise.resolve(this.messages);
    return new Promise((resolve, reject) => {
      const w = { predicate, resolve };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`push service: condition not met within ${timeoutMs} ms (${this.messages.length} messages)`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  notify() {
    for (const w of [...this.waiters]) {
      if (w.predicate(this.messages)) {
        clearTimeout(w.timer);
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(this.messages);
      }
    }
  }

  async handle(req, res) {
    // The highest stream this session has begun to process: a GOAWAY must
    // not disown it.
    if (req.stream) {
      const session = req.stream.session;
      // A stream above the last one a GOAWAY of ours named is not processed
      // (RFC 9113, 6.8): it crossed the GOAWAY on the wire, and nghttp2
      // accepts it when the GOAWAY was queued but not yet written.  The
      // client starts it again elsewhere.
      if (session.webpushGoawayLast !== undefined && req.stream.id > session.webpushGoawayLast) {
        this.refusedAfterGoaway++;
        req.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      session.webpushLastStream = Math.max(session.webpushLastStream || 0, req.stream.id);
    }
    const body = await new Promise((resolve, reject) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
    const resource = /^\/m\/([\w-]+)$/.exec(req.url);
    if (req.method === 'DELETE' && resource) {
      await this.deleteResource(req, res, resource[1]);
      return;
    }
    const m = /^\/(push|apple|mozilla|fcm|wns)\/(\d+)$/.exec(req.url);
    if (req.method !== 'POST' || !m) {
      res.writeHead(404); res.end('no such endpoint'); return;
    }
    const sub = this.subscriptions.get(m[2]);
    if (!sub || (sub.vendor || 'push') !== m[1]) { res.writeHead(404); res.end('unknown subscription'); return; }
    // A sender killed mid-request leaves a truncated body: not a message.
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > body.length) {
      this.truncated++;
      res.writeHead(400); res.end('truncated body');
      return;
    }

    if (this.verifyEvery > 1 && this.arrivals.length % this.verifyEvery !== 0) {
      this.arrivals.push(Date.now());
      res.writeHead(201);
      res.end();
      return;
    }
    if (this.verifyEvery > 1) this.arrivals.push(Date.now());

    const record = {
      subscription: sub.id,
      receivedAt: Date.now(),
      httpVersion: req.httpVersion,
      remotePort: req.socket.remotePort,  // tells connections (and so senders) apart
      headers: { ...req.headers },
      bodyLength: body.length,
      payload: null,
      claims: null,
      errors: [],
    };
    await this.check(sub, req, body, record);
    if (record.errors.length) this.problems.push(...record.errors.map((e) => `${req.url}: ${e}`));

    const vendorAnswer = sub.vendor && this.vendorAnswer(sub, req, body, record);
    if (vendorAnswer) {
      record.status = vendorAnswer.status;
      this.messages.push(record);
      this.notify();
      res.writeHead(vendorAnswer.status, vendorAnswer.headers || {});
      res.end(vendorAnswer.body || '');
      return;
    }

    const scripted = record.wrongKey
      ? { status: 403, body: 'the VAPID key does not match the subscription' }
      : sub.responses.shift() || this.defaultResponse;
    record.status = record.errors.length ? 400 : scripted.status;
    this.messages.push(record);
    this.notify();

    if (scripted.delayMs) await new Promise((r) => setTimeout(r, scripted.delayMs));
    if (scripted.until) await scripted.until;
    // A test that must act around the answer writes it itself.
    if (scripted.respondWith && !record.errors.length) {
      await scripted.respondWith(res);
      return;
    }
    if (scripted.drop && !record.errors.length) {
      if (req.stream) req.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      else req.socket.destroy();
      return;
    }
    if (record.errors.length) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: record.errors }));
      return;
    }
    const location = scripted.status === 201 ? this.messageResource(sub, record) : {};
    res.writeHead(scripted.status, { ...location, ...(scripted.headers || {}) });
    res.end(scripted.body || '');
    // A push service recycling its connections, as FCM does: no new streams
    // after this one; the client must send the later ones elsewhere.
    if (this.goawayEvery && req.stream && ++this.streams % this.goawayEvery === 0) {
      const session = req.stream.session;
      session.webpushGoawayLast = session.webpushLastStream;
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, session.webpushLastStream);
    }
  }

  // The vendor's answer to a request that breaks its rules (counted in
  // rejections), or to a subscription marked stale or throttled; null when
  // the request goes on as any other.
  vendorAnswer(sub, req, body, record) {
    const vendor = VENDOR_RULES[sub.vendor];
    const refused = vendor.rules(this, sub, req, body);
    if (refused) {
      record.vendorReason = refused.reason;
      this.rejections.push({ vendor: sub.vendor, subscription: sub.id, status: refused.status, reason: refused.reason });
      return refused;
    }
    if (sub.stale) return vendor.stale();
    if (sub.throttled && sub.throttled.n > 0) {
      sub.throttled.n--;
      return vendor.throttled(sub.throttled.seconds);
    }
    return null;
  }

  async check(sub, req, body, record) {
    const h = req.headers;
    const err = (e) => record.errors.push(e);

    if (!/^\d+$/.test(h.ttl || '')) err(`TTL header missing or not a number: ${h.ttl}`);
    if (h.urgency !== undefined && !URGENCIES.has(h.urgency)) err(`bad Urgency: ${h.urgency}`);
    if (h.topic !== undefined && (!B64URL.test(h.topic) || h.topic.length > 32)) err(`bad Topic: ${h.topic}`);
    if (h['content-length'] === undefined) err('no Content-Length');
    else if (Number(h['content-length']) !== body.length) err('Content-Length does not match the body');
    if (h['content-type'] !== 'application/octet-stream') err(`Content-Type is ${h['content-type']}`);

    // VAPID (RFC 8292 section 3): "vapid t=<jwt>, k=<p256 public key>"
    const auth = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(h.authorization || '');
    if (!auth) {
      err(`Authorization is not "vapid t=..., k=...": ${h.authorization}`);
    } else {
      try {
        const k = Buffer.from(auth[2], 'base64url');
        if (k.length !== 65 || k[0] !== 4) throw new Error('k is not a 65-byte uncompressed point');
        const key = await jose.importJWK({
          kty: 'EC', crv: 'P-256', x: b64url(k.subarray(1, 33)), y: b64url(k.subarray(33)),
        }, 'ES256');
        const header = jose.decodeProtectedHeader(auth[1]);
        if (header.typ !== 'JWT') throw new Error(`JWT typ is ${header.typ}`);
        const { payload } = await jose.jwtVerify(auth[1], key, {
          algorithms: ['ES256'], audience: this.origin,
        });
        const now = Math.floor(Date.now() / 1000);
        if (!(payload.exp > now && payload.exp <= now + 24 * 3600)) throw new Error(`exp ${payload.exp} not within 24 h`);
        if (!/^(mailto:|https:)/.test(payload.sub || '')) throw new Error(`sub is ${payload.sub}`);
        record.claims = payload;
        record.vapidKey = auth[2];
        // As FCM does: a subscription belongs to the first application
        // server key that signs for it (or the one it was made with), and
        // any other key gets 403.
        if (!sub.vapidKey) sub.vapidKey = auth[2];
        else if (sub.vapidKey !== auth[2]) record.wrongKey = true;
      } catch (e) {
        err(`VAPID: ${e.message}`);
      }
    }

    if (body.length === 0) {
      if (h['content-encoding'] !== undefined) err('Content-Encoding on a push without payload');
      return;
    }
    if (h['content-encoding'] !== 'aes128gcm') err(`Content-Encoding is ${h['content-encoding']}`);
    if (body.length > 4096) err(`body of ${body.length} bytes is over 4096`);
    try {
      record.payload = ece.decrypt(body, {
        version: 'aes128gcm', privateKey: sub.ecdh, authSecret: b64url(sub.auth),
      });
      record.senderKey = b64url(body.subarray(21, 86));
    } catch (e) {
      err(`decryption failed: ${e.message}`);
    }
  }
}

module.exports = { PushService, VENDORS, appleSubjectProblem };

if (require.main === module) {
  const args = require('node:util').parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      key: { type: 'string' },
      cert: { type: 'string' },
      subscription: { type: 'string' },
      pretty: { type: 'boolean', default: false },
    },
  }).values;
  const service = new PushService();
  service.start({ key: fs.readFileSync(args.key), cert: fs.readFileSync(args.cert), port: Number(args.port) })
    .then(() => {
      // Write one subscription, as a browser would hand it to the app.
      if (args.subscription) fs.writeFileSync(args.subscription, JSON.stringify(service.subscribe()));
      console.error(`push service listening on ${service.origin}`);
      const origNotify = service.notify.bind(service);
      let shown = 0;
      service.notify = () => {
        for (; shown < service.messages.length; shown++) {
          const m = service.messages[shown];
          if (args.pretty) {
            const when = new Date().toISOString().slice(11, 23);
            const what = m.errors.length ? `REJECTED: ${m.errors.join('; ')}`
              : m.payload ? m.payload.toString('utf8') : '(a push without payload)';
            console.log(`${when}  ${m.status}  subscription ${m.subscription}  TTL ${m.headers.ttl}  ${what}`);
            continue;
          }
          console.log(JSON.stringify({
            subscription: m.subscription, status: m.status, http: m.httpVersion,
            ttl: m.headers.ttl, urgency: m.headers.urgency, sub: m.claims && m.claims.sub,
            payload: m.payload ? m.payload.toString('utf8') : null, errors: m.errors,
          }));
        }
        origNotify();
      };
    })
    .catch((err) => {
      // A busy port is an everyday mistake: say so in one line.
      console.error(err.code === 'EADDRINUSE'
        ? `push service: port ${args.port} is in use by another program; choose another with --port`
        : `push service: ${err.message}`);
      process.exit(1);
    });
  process.on('SIGTERM', () => service.stop().then(() => process.exit(0)));
}
