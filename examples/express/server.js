'use strict';
// The example app: an Express server that stores browser subscriptions with
// the webpush extension and notifies users from a trigger.
//
//   GET    /api/key           the VAPID public key for PushManager.subscribe()
//   POST   /api/subscription  {subscription, oldEndpoint?, applicationServerKey?}:
//                              store (or replace)
//   DELETE /api/subscription  {endpoint}: forget
//   POST   /api/push          {title, body?, url?}: insert a message for the
//                             current user; the table's trigger notifies
//   POST   /api/receipts      {receipts: [...]}: what the kit's service
//                             worker reports (shown, clicked, closed)
//   GET    /api/stats         shown/clicked/closed of the latest notifications
//   POST   /api/local-subscription  with a local push service only
//                             (LOCAL_PUSH_SUBSCRIPTION): store its
//                             subscription for the current user, so the
//                             whole path runs without a browser vendor
//
// The user is a random id in a cookie, standing in for your login session.
// The server logs in as a role with webpush_sender and its own table's
// privileges (schema.sql, applied by the database owner); it creates
// nothing.  Run it with ./run.sh (a throwaway cluster), or
// DATABASE_URL=... ./run.sh.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const express = require('express');
const { Pool } = require('pg');

const CLIENT_DIR = path.join(__dirname, '..', '..', 'client');

// webpush's validation errors (bad subscription JSON, keys, URLs, sizes) are
// SQLSTATE class 22 or 54000: the caller's fault, so a 400 that says why.
function isInputError(err) {
  return typeof err.code === 'string' && (err.code.startsWith('22') || err.code === '54000');
}

function userOf(req, res) {
  const match = /(?:^|;\s*)uid=([A-Za-z0-9_-]{8,64})/.exec(req.headers.cookie || '');
  if (match) return match[1];
  const uid = crypto.randomBytes(9).toString('base64url');
  res.cookie('uid', uid, { httpOnly: true, sameSite: 'strict', path: '/' });
  return uid;
}

function badRequest(res, error, hint) {
  res.status(400).json({ error, hint });
}

function createApp({ pool, localSubscriptionFile = null }) {
  const app = express();
  app.use(express.json({ limit: '16kb' }));
  app.use((req, res, next) => { req.user = userOf(req, res); next(); });

  // The kit's two files.  sw.js is served from / so its scope is the site.
  app.get('/sw.js', (req, res) => res.sendFile(path.join(CLIENT_DIR, 'sw.js')));
  app.get('/webpush-client.classic.js', (req, res) => res.sendFile(path.join(CLIENT_DIR, 'dist', 'webpush-client.classic.js')));
  app.get('/webpush-client.js', (req, res) => res.sendFile(path.join(CLIENT_DIR, 'webpush-client.js')));
  app.use(express.static(path.join(__dirname, 'public')));

  app.get('/api/key', async (req, res) => {
    const { rows } = await pool.query('SELECT webpush_keys() AS key');
    res.json({ applicationServerKey: rows[0].key });
  });

  app.get('/api/me', (req, res) => res.json({ user: req.user, localPush: Boolean(localSubscriptionFile) }));

  if (localSubscriptionFile) {
    app.post('/api/local-subscription', async (req, res) => {
      const subscription = fs.readFileSync(localSubscriptionFile, 'utf8');
      const { rows } = await pool.query('SELECT webpush_subscribe($1::jsonb, $2) AS id', [subscription, req.user]);
      res.status(201).json({ id: Number(rows[0].id) });
    });
  }

  app.post('/api/subscription', async (req, res) => {
    const { subscription, oldEndpoint, applicationServerKey } = req.body || {};
    if (!subscription || typeof subscription !== 'object') {
      return badRequest(res, 'body must be {"subscription": PushSubscription.toJSON()}');
    }
    const db = await pool.connect();
    try {
      await db.query('BEGIN');
      // A renewed subscription (pushsubscriptionchange) takes the old one's
      // place: its id and what waits for it.
      // Bound to the server key the browser subscribed with (the kit sends
      // it), so that a key rotation never strands a subscription.
      const { rows } = await db.query(
        'SELECT webpush_subscribe($1::jsonb, $2, server_key => $3, old_endpoint => $4) AS id',
        [JSON.stringify(subscription), req.user,
          typeof applicationServerKey === 'string' ? applicationServerKey : null,
          typeof oldEndpoint === 'string' ? oldEndpoint : null]);
      await db.query('COMMIT');
      res.status(201).json({ id: Number(rows[0].id) });
    } catch (err) {
      await db.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      db.release();
    }
  });

  app.delete('/api/subscription', async (req, res) => {
    const { endpoint } = req.body || {};
    if (typeof endpoint !== 'string') return badRequest(res, 'body must be {"endpoint": "..."}');
    const { rows } = await pool.query('SELECT webpush_unsubscribe($1) AS removed', [endpoint]);
    res.json({ removed: rows[0].removed });
  });

  app.post('/api/push', async (req, res) => {
    const { title, body = null, url = null } = req.body || {};
    if (typeof title !== 'string' || !title) return badRequest(res, 'body must be {"title": "...", "body"?, "url"?}');
    const { rows } = await pool.query(
      'INSERT INTO messages (user_id, title, body, url) VALUES ($1, $2, $3, $4) RETURNING id',
      [req.user, title, body, url]);
    res.status(201).json({ id: Number(rows[0].id) });
  });

  // Receipts from sw.js, batched: webpush_receipts stores each once, and
  // ignores ids of messages this role's applications did not send.  The
  // kit retries after a 5xx and drops the batch after a 4xx.  The answer
  // says nothing of what was stored: how many would tell a visitor which
  // subscription a guessed message id went to.
  app.post('/api/receipts', async (req, res) => {
    const { receipts } = req.body || {};
    if (!Array.isArray(receipts)) return badRequest(res, 'body must be {"receipts": [...]}');
    await pool.query('SELECT webpush_receipts($1::jsonb)', [JSON.stringify(receipts)]);
    res.status(204).end();
  });

  // What became of the latest notifications, and the application's totals
  // (webpush.message_receipts and webpush.application_receipts show only
  // the applications this role may use).
  app.get('/api/stats', async (req, res) => {
    const { rows: messages } = await pool.query(
      `SELECT id, delivered, shown, clicked, closed, actions FROM webpush.message_receipts
        WHERE application = 'default' ORDER BY id DESC LIMIT 5`);
    const { rows: [totals] } = await pool.query(
      `SELECT shown, clicked, closed FROM webpush.application_receipts WHERE application = 'default'`);
    const counts = (r) => ({ shown: Number(r.shown), clicked: Number(r.clicked), closed: Number(r.closed) });
    res.json({
      messages: messages.map((r) => ({ id: Number(r.id), delivered: Number(r.delivered), ...counts(r), actions: r.actions || {} })),
      totals: totals ? counts(totals) : { shown: 0, clicked: 0, closed: 0 },
    });
  });

  // Express 5 routes rejected promises here.
  app.use((err, req, res, next) => {
    if (isInputError(err)) {
      return res.status(400).json({ error: err.message, detail: err.detail, hint: err.hint, sqlstate: err.code });
    }
    if (err.type === 'entity.parse.failed' || err.type === 'entity.too.large') {
      return res.status(400).json({ error: err.message });
    }
    console.error(err);
    res.status(500).json({ error: 'internal error' });
  });
  return app;
}

// schema.sql, for whoever owns the database (run.sh, the tests).
async function migrate(pool) {
  await pool.query(fs.readFileSync(path.join(__dirname, 'schema.sql'), 'utf8'));
}

if (require.main === module) {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL });
  const port = Number(process.env.PORT || 3000);
  pool.query('SELECT webpush_keys() AS key, has_table_privilege(\'messages\', \'INSERT\') AS ok').then(({ rows }) => {
    if (!rows[0].ok) throw Object.assign(new Error('this role may not insert into messages'), { code: '42501' });
    createApp({ pool, localSubscriptionFile: process.env.LOCAL_PUSH_SUBSCRIPTION || null })
      .listen(port, '127.0.0.1', () => console.log(`webpush example on http://localhost:${port}/`));
  }).catch((err) => {
    console.error(`cannot use the database: ${err.message}`);
    if (['42501', '42P01', '42883'].includes(err.code)) {
      console.error('Apply schema.sql as the database owner first (psql -f schema.sql), and connect as webpush_example.');
    }
    process.exit(1);
  });
}

module.exports = { createApp, migrate };
