'use strict';
// What an attacker or a careless setting could do, tried on the real server:
// a database owner's planted functions and operators, cancels at every stage
// of webpush_send_now, a push service that never answers, hostile response
// bytes, keys in the log, proxy variables, private addresses, certificates
// for another name, and the worker's settings (max_attempts, retention,
// reloads) doing what they say.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { once } = require('node:events');
const { Client } = require('pg');
const {
  setUpFile, tearDownFile, connect, configure, caFile, SLOW, Session, storeSubscription, workerPids, workerWakeups,
  reloadWorker, serverLog, createRole, recreateDatabase, http2Server, silentTcpServer,
} = require('./helpers');

let service;
const db = new Session('postgres', { reconnect: true });
const { until, value } = db;
const subscribe = (sub, userId) => storeSubscription(db, sub, userId);

async function history(id) {
  const { rows } = await db.query('SELECT * FROM webpush.history WHERE message_id = $1', [id]);
  return rows[0];
}

before(async () => {
  service = await setUpFile(db);
  await configure(db);
});

after(() => tearDownFile(db, service));

test('a database owner\'s planted functions and operators never run in the worker', async () => {
  const me = await value('SELECT current_user');
  await createRole(db, 'regress_owner');
  await db.query('ALTER DATABASE postgres OWNER TO regress_owner');
  const owner = await connect('postgres', 'regress_owner');
  try {
    // Each planted object records that it ran and tries to make its owner a
    // superuser: as the worker, both would succeed.
    await owner.query(`
      CREATE TABLE public.planted_calls (what text, at timestamptz DEFAULT clock_timestamp());
      GRANT INSERT ON public.planted_calls TO PUBLIC;
      CREATE FUNCTION public.planted(what text) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO public.planted_calls (what) VALUES (what);
        BEGIN EXECUTE 'ALTER ROLE regress_owner SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
      END $$;
      CREATE FUNCTION public.make_interval(secs integer) RETURNS interval LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.planted('make_interval'); RETURN pg_catalog.make_interval(secs => secs::float8); END $$;
      CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.planted('now'); RETURN pg_catalog.now(); END $$;
      CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.planted('clock_timestamp'); RETURN pg_catalog.clock_timestamp(); END $$;
      CREATE FUNCTION public.unnest(a bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.planted('unnest(bigint[])'); RETURN QUERY SELECT * FROM pg_catalog.unnest(a); END $$;
      CREATE FUNCTION public.unnest(a text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.planted('unnest(text[])'); RETURN QUERY SELECT * FROM pg_catalog.unnest(a); END $$;
      CREATE FUNCTION public.unnest(a integer[]) RETURNS SETOF integer LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.planted('unnest(integer[])'); RETURN QUERY SELECT * FROM pg_catalog.unnest(a); END $$;
      CREATE FUNCTION public.unnest(a double precision[]) RETURNS SETOF double precision LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.planted('unnest(float8[])'); RETURN QUERY SELECT * FROM pg_catalog.unnest(a); END $$;
      CREATE FUNCTION public.planted_eq(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.planted('= bigint'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
      CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.planted_eq);
      CREATE FUNCTION public.planted_le(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.planted('<= timestamptz'); RETURN a OPERATOR(pg_catalog.<=) b; END $$;
      CREATE OPERATOR public.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.planted_le);
      CREATE FUNCTION public.planted_ne(a integer, b integer) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.planted('<> integer'); RETURN a OPERATOR(pg_catalog.<>) b; END $$;
      CREATE OPERATOR public.<> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.planted_ne);
      CREATE FUNCTION public.planted_texteq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.planted('= text'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
      CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.planted_texteq);`);
    // And puts public ahead of pg_catalog for every new session here.
    await owner.query('ALTER DATABASE postgres SET search_path = public, pg_catalog');

    // A new worker connects with the database's settings.
    const [oldPid] = await workerPids(db);
    await db.query('SELECT pg_terminate_backend($1)', [oldPid]);
    await until('a new worker', async () => {
      const pids = await workerPids(db);
      return pids.length === 1 && pids[0] !== oldPid;
    }, 30000);

    // Every statement the worker has: claim, deliver, retry, gone, purge.
    const ok = service.subscribe();
    const retried = service.subscribe();
    const gone = service.subscribe();
    service.respond(retried.endpoint, { status: 500 });
    service.respond(gone.endpoint, { status: 410 });
    const ids = [];
    for (const s of [ok, retried, gone]) {
      const sid = await subscribe(s);
      ids.push(await value('SELECT webpush_send($1::bigint, $2::text)', [sid, 'planted']));
    }
    await until('all three finished', async () =>
      Number(await value('SELECT count(*) FROM webpush.history WHERE message_id = ANY($1)', [ids])) === 3, 30000);
    await reloadWorker(db);	/* maintenance: purge and orphans */
    assert.equal((await history(ids[1])).attempts, 2, 'the 500 was retried');
    assert.equal((await history(ids[2])).outcome, 'failed');

    const calls = await owner.query('SELECT what FROM public.planted_calls');
    assert.deepEqual(calls.rows, [], 'no planted function or operator ran');
    assert.equal(await value("SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_owner'"), false);
  } finally {
    await owner.end();
    await db.query('ALTER DATABASE postgres RESET search_path');
    await db.query(`ALTER DATABASE postgres OWNER TO "${me}"`);
    await db.query(`DROP TABLE public.planted_calls;
      DROP OPERATOR public.= (bigint, bigint); DROP OPERATOR public.<= (timestamptz, timestamptz);
      DROP OPERATOR public.<> (integer, integer); DROP OPERATOR public.= (text, text);
      DROP FUNCTION public.planted_eq, public.planted_le, public.planted_ne, public.planted_texteq,
        public.make_interval(integer), public.now(), public.clock_timestamp(),
        public.unnest(bigint[]), public.unnest(text[]), public.unnest(integer[]),
        public.unnest(double precision[]), public.planted(text);
      DROP ROLE regress_owner;`);
  }
});

test('webpush_send_now cancelled at every stage, then sent again', async () => {
  const sub = service.subscribe();
  const pid = await value('SELECT pg_backend_pid()');
  const sendAgain = async (label) => {
    const { rows } = await db.query('SELECT * FROM webpush_send_now($1::jsonb, $2)', [sub, label]);
    assert.equal(rows[0].status, 201, `${label}: sent after the cancel`);
    await service.waitFor(() => service.received(sub.endpoint).some((m) => String(m.payload) === label));
  };
  const cancelled = async (sql, params) => {
    await assert.rejects(db.query(sql, params), /canceling statement/);
  };

  // Connecting: a server that accepts TCP and never speaks TLS.
  const silent = await silentTcpServer();
  const silentSub = { ...sub, endpoint: `https://localhost:${silent.port}/push/1` };
  await db.query("SET statement_timeout = '300ms'");
  await cancelled('SELECT * FROM webpush_send_now($1::jsonb, $2)', [silentSub, 'x']);
  await db.query('RESET statement_timeout');
  await silent.shutdown();
  await sendAgain('after connecting');

  // Waiting for the answer.
  service.respond(sub.endpoint, { status: 201, delayMs: 2000 });
  await db.query("SET statement_timeout = '300ms'");
  await cancelled('SELECT * FROM webpush_send_now($1::jsonb, $2)', [sub, 'slow']);
  await db.query('RESET statement_timeout');
  await sendAgain('after waiting');

  // After the answer arrived and before the call collected it: the backend
  // is stopped, answered, cancelled, and resumed, so it reads the answer and
  // the cancel in the same wake-up.
  service.respond(sub.endpoint, {
    respondWith: async (res) => {
      process.kill(pid, 'SIGSTOP');
      try {
        res.writeHead(201);
        res.end();
        await once(res, 'finish');
        const other = await connect();
        await other.query('SELECT pg_cancel_backend($1)', [pid]);
        await other.end();
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    },
  });
  await assert.rejects(db.query('SELECT * FROM webpush_send_now($1::jsonb, $2)', [sub, 'answered']),
    /canceling statement due to user request/);
  await sendAgain('after the answer');

  // And around the answer, at every moment a timer can hit.
  for (let ms = 5; ms <= 60; ms += 5) {
    service.respond(sub.endpoint, { status: 201, delayMs: 30 });
    await db.query(`SET statement_timeout = '${ms}ms'`);
    await db.query('SELECT * FROM webpush_send_now($1::jsonb, $2)', [sub, `t${ms}`]).catch((e) => {
      assert.match(e.message, /canceling statement/);
    });
    await db.query('RESET statement_timeout');
    await sendAgain(`after a ${ms} ms timeout`);
  }
});

test('a push service that never answers holds only its share of the worker', async () => {
  const silent = await http2Server({ handler: () => {} });
  let streams = 0;
  silent.on('stream', () => { streams++; });
  await db.query("ALTER SYSTEM SET webpush.timeout = '60s'");
  await reloadWorker(db);
  try {
    const stuckIds = [];
    for (let i = 0; i < 3; i++) {
      const s = service.subscribe();
      stuckIds.push(await subscribe({ ...s, endpoint: `https://127.0.0.1:${silent.port}/push/${i}` }));
    }
    // 300 notifications to the host that never answers ...
    await db.query("SELECT webpush_send(s, 'stuck ' || i) FROM unnest($1::bigint[]) s, generate_series(1, 100) i", [stuckIds]);
    await until('the silent host to hold its share', async () => streams >= 100);

    // ... and the other host's go out at once.
    const healthy = service.subscribe();
    const healthyId = await subscribe(healthy);
    const started = Date.now();
    await db.query("SELECT webpush_send($1::bigint, 'healthy ' || i) FROM generate_series(1, 20) i", [healthyId]);
    await service.waitFor(() => service.received(healthy.endpoint).length === 20, 10000);
    const took = Date.now() - started;
    assert.ok(took < 5000 * SLOW, `the healthy host waited ${took} ms`);
    assert.ok(streams <= 100, `the silent host got ${streams} requests at once, more than its share`);
    await db.query('DELETE FROM webpush.deliveries WHERE subscription_id = ANY($1)', [stuckIds]);
    await db.query('DELETE FROM webpush.subscriptions WHERE id = ANY($1)', [stuckIds]);
  } finally {
    await silent.shutdown();
    await db.query('ALTER SYSTEM RESET webpush.timeout');
    await reloadWorker(db);
  }
});

test('hostile response bytes are stored as valid text: dump, restore and LATIN1 work', async () => {
  const hostile = Buffer.from([0xff, 0xfe, 0x41, 0x00, 0x42, 0xc3]);
  const sub = service.subscribe();
  const id = await subscribe(sub);
  // Retried an hour later: the answer stays in the queue's last_error.
  service.respond(sub.endpoint, { status: 500, headers: { 'retry-after': '3600' }, body: hostile });
  const qid = await value('SELECT webpush_send($1::bigint, $2::text)', [id, 'hostile']);
  await until('the 500 recorded', async () =>
    (await value('SELECT last_status FROM webpush.deliveries WHERE message_id = $1', [qid])) === 500);
  assert.equal(await value('SELECT last_error FROM webpush.deliveries WHERE message_id = $1', [qid]),
    'HTTP 500: \\xFF\\xFEA\\x00B');

  // An honest body of 1,024 bytes cut inside a two-byte character.
  const honest = service.subscribe();
  const honestId = await subscribe(honest);
  service.respond(honest.endpoint, { status: 400, body: Buffer.concat([Buffer.alloc(1023, 'x'), Buffer.from('é')]) });
  const hid = await value('SELECT webpush_send($1::bigint, $2::text)', [honestId, 'honest']);
  await until('the 400 recorded', async () => (await history(hid)) !== undefined);
  assert.equal((await history(hid)).reason, `HTTP 400: ${'x'.repeat(1023)}`);

  // webpush_send_now returns the same, valid, text.
  service.respond(sub.endpoint, { status: 400, body: hostile });
  const { rows } = await db.query('SELECT * FROM webpush_send_now($1::bigint, $2::text)', [id, 'x']);
  assert.equal(rows[0].response, '\\xFF\\xFEA\\x00B');

  // A dump holds the queue (a configuration table): it restores cleanly.
  const dump = path.join(os.tmpdir(), `webpush-hostile-${process.pid}.dump`);
  const env = { ...process.env, PGDATABASE: 'postgres' };
  execFileSync('pg_dump', ['-Fc', '-f', dump, 'postgres'], { env });
  await recreateDatabase(db, 'webpush_restored');
  try {
    execFileSync('pg_restore', ['--exit-on-error', '-d', 'webpush_restored', dump], { env, stdio: 'pipe' });
    const restored = await connect('webpush_restored');
    assert.equal(await restored.query('SELECT last_error FROM webpush.deliveries WHERE message_id = $1', [qid])
      .then((r) => r.rows[0].last_error), 'HTTP 500: \\xFF\\xFEA\\x00B');
    await restored.end();
  } finally {
    fs.rmSync(dump, { force: true });
    await db.query('DROP DATABASE webpush_restored WITH (FORCE)');
  }

  // Any client encoding reads the views.
  await db.query('SET client_encoding = LATIN1');
  try {
    const byHost = await db.query('SELECT * FROM webpush.status_by_host');
    assert.ok(byHost.rows.length >= 1);
  } finally {
    await db.query('RESET client_encoding');
    await db.query('DELETE FROM webpush.deliveries WHERE message_id = $1', [qid]);
  }
});

test('key import errors keep the key out of the server log', async () => {
  const log = serverLog();
  const almost = 'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oR';	/* one character short */
  const pem = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRET\n-----END PRIVATE KEY-----';
  await assert.rejects(db.query(`SELECT webpush_keys_import('${almost}')`), /invalid VAPID private key/);
  await assert.rejects(db.query(`SELECT webpush_keys_import('${pem}')`), /invalid VAPID private key/);
  await assert.rejects(db.query(`SELECT webpush_encrypt('x', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
    'BTBZMqHH6r4Tts7J_aSIgg', NULL, '${almost}')`), /invalid sender private key/);
  await db.query("SELECT 'flush' AS marker_for_the_log_4711");
  await log.flushed(db);
  const written = log.text();
  assert.match(written, /invalid VAPID private key/, 'the errors are logged');
  assert.ok(!written.includes(almost), 'the raw key is not');
  assert.ok(!written.includes('SECRETSECRET'), 'the PEM is not');
});

test('proxy variables in the server\'s environment are ignored', async () => {
  const port = Number(process.env.WEBPUSH_TEST_PROXY_PORT);
  let connections = 0;
  const proxy = net.createServer((sock) => { connections++; sock.destroy(); });
  await new Promise((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  try {
    const postmaster = fs.readFileSync(path.join(process.env.PGDATA, 'postmaster.pid'), 'utf8').split('\n')[0];
    const environ = fs.readFileSync(`/proc/${postmaster}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes(`https_proxy=http://127.0.0.1:${port}`), 'the server has https_proxy set');

    const sub = service.subscribe();
    const id = await subscribe(sub);
    await db.query('SELECT webpush_send($1::bigint, $2::text)', [id, 'not through a proxy']);
    await service.waitFor(() => service.received(sub.endpoint).length === 1);
    const { rows } = await db.query('SELECT * FROM webpush_send_now($1::bigint, $2::text)', [id, 'nor this']);
    assert.equal(rows[0].status, 201);
    assert.equal(connections, 0, 'nothing went to the proxy');
  } finally {
    proxy.close();
  }
});

test('webpush.proxy: deliveries go through an HTTP CONNECT proxy (tinyproxy)', async () => {
  const port = Number(process.env.WEBPUSH_TEST_TCP_BASE) + 19;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webpush-proxy-'));
  const log = path.join(dir, 'tinyproxy.log');
  fs.writeFileSync(path.join(dir, 'tinyproxy.conf'),
    `Port ${port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 50\nAllow 127.0.0.1\nLogFile "${log}"\nLogLevel Info\n`);
  const proxy = require('node:child_process').spawn('tinyproxy', ['-d', '-c', path.join(dir, 'tinyproxy.conf')],
    { stdio: 'ignore' });
  try {
    await until('the proxy to listen', () => new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => { sock.destroy(); resolve(true); });
      sock.on('error', () => resolve(false));
    }));
    const through = () => fs.readFileSync(log, 'utf8').includes(`CONNECT localhost:${service.port}`);
    await assert.rejects(db.query("SET webpush.proxy = 'socks://127.0.0.1:1'"),
      (e) => /invalid value/.test(e.message) && /must be an http/.test(e.detail));
    await db.query(`ALTER SYSTEM SET webpush.proxy = 'http://127.0.0.1:${port}'`);
    await reloadWorker(db);
    const sub = service.subscribe();
    const id = await subscribe(sub);
    await db.query('SELECT webpush_send($1::bigint, $2::text)', [id, 'through the proxy']);
    await service.waitFor(() => service.received(sub.endpoint).length === 1);
    assert.ok(through(), 'the worker connected through the proxy');
    assert.equal(String(service.received(sub.endpoint)[0].payload), 'through the proxy');

    // Through the proxy the address policy still refuses literal private
    // addresses; host names are the proxy's to resolve (and refuse).
    const literal = { ...service.subscribe(), endpoint: `https://127.0.0.1:${service.port}/push/literal` };
    const literalId = await subscribe(literal);
    await db.query('ALTER SYSTEM SET webpush.allow_private_endpoints = off');
    await reloadWorker(db);
    const qid = await value('SELECT webpush_send($1::bigint, $2::text)', [literalId, 'must not leave']);
    await until('the refusal recorded', async () => (await history(qid)) !== undefined);
    assert.equal((await history(qid)).outcome, 'failed');
    assert.match((await history(qid)).reason, /not allowed/);
    assert.ok(!fs.readFileSync(log, 'utf8').includes('CONNECT 127.0.0.1'), 'nothing asked the proxy for it');
    await db.query('ALTER SYSTEM RESET webpush.allow_private_endpoints');
    await reloadWorker(db);

    // webpush_send_now takes it from the session.
    fs.writeFileSync(log, '');
    await db.query(`SET webpush.proxy = 'http://127.0.0.1:${port}'`);
    const { rows } = await db.query('SELECT * FROM webpush_send_now($1::bigint, $2::text)', [id, 'now, through it']);
    assert.equal(rows[0].status, 201);
    assert.ok(through(), 'webpush_send_now connected through the proxy');
    await db.query('RESET webpush.proxy');
  } finally {
    proxy.kill();
    await db.query('ALTER SYSTEM RESET webpush.proxy');
    await reloadWorker(db);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a rollback does not wake the worker; a commit does', async () => {
  const sub = service.subscribe();
  const id = await subscribe(sub);
  const before = await workerWakeups(db);
  for (let i = 0; i < 20; i++) {
    await db.query('BEGIN');
    await db.query('SELECT webpush_send($1::bigint, $2::text)', [id, `rolled back ${i}`]);
    await db.query('ROLLBACK');
  }
  await db.query('SELECT webpush_send($1::bigint, $2::text)', [id, 'committed']);
  await service.waitFor(() => service.received(sub.endpoint).length === 1);
  const woken = (await workerWakeups(db)) - before;
  assert.ok(woken >= 1 && woken <= 2, `the worker woke ${woken} times for 20 rollbacks and a commit`);
  assert.equal(service.received(sub.endpoint).length, 1);
});

test('with private endpoints off, the worker refuses loopback at connect time', async () => {
  await db.query('ALTER SYSTEM SET webpush.allow_private_endpoints = off');
  await reloadWorker(db);
  try {
    // A host name, not an address: it passes validation and is caught when
    // the worker connects to what it resolves to.
    const sub = service.subscribe({ host: 'localhost' });
    await db.query('SET webpush.allow_private_endpoints = off');
    const id = await subscribe(sub);
    await db.query('RESET webpush.allow_private_endpoints');
    await configure(db);
    const qid = await value('SELECT webpush_send($1::bigint, $2::text)', [id, 'must not arrive']);
    await until('the refusal recorded', async () => (await history(qid)) !== undefined);
    const h = await history(qid);
    assert.equal(h.outcome, 'failed');
    assert.match(h.reason, /refused to connect to a loopback address/);
    assert.equal(service.received(sub.endpoint).length, 0);
  } finally {
    await db.query('ALTER SYSTEM RESET webpush.allow_private_endpoints');
    await reloadWorker(db);
  }
});

test('the push service\'s certificate must name its host', async () => {
  const other = await http2Server({ cert: 'other', handler: (req, res) => { res.writeHead(201); res.end(); } });
  let requests = 0;
  other.on('stream', () => { requests++; });
  try {
    const sub = { ...service.subscribe(), endpoint: `https://localhost:${other.port}/push/1` };
    await assert.rejects(db.query('SELECT * FROM webpush_send_now($1::jsonb, $2)', [sub, 'x']),
      (e) => /could not deliver/.test(e.message) && /certificate|subject name/i.test(e.detail));
    const id = await subscribe(sub);
    const qid = await value('SELECT webpush_send($1::bigint, $2::text)', [id, 'x']);
    await until('the failure recorded', async () =>
      (await value('SELECT last_error FROM webpush.deliveries WHERE message_id = $1', [qid])) !== null);
    assert.match(await value('SELECT last_error FROM webpush.deliveries WHERE message_id = $1', [qid]), /certificate|subject name/i);
    assert.equal(requests, 0, 'no request reached the impostor');
    await db.query('DELETE FROM webpush.deliveries WHERE message_id = $1', [qid]);
  } finally {
    await other.shutdown();
  }
});

test('the worker gives up after webpush.max_attempts', async () => {
  await db.query('ALTER SYSTEM SET webpush.max_attempts = 2');
  await reloadWorker(db);
  try {
    const sub = service.subscribe();
    const id = await subscribe(sub);
    service.respond(sub.endpoint, { status: 503 }, { status: 503 }, { status: 503 });
    const qid = await value('SELECT webpush_send($1::bigint, $2::text)', [id, 'doomed']);
    await until('the give-up recorded', async () => (await history(qid)) !== undefined);
    const h = await history(qid);
    assert.equal(h.outcome, 'failed');
    assert.equal(h.attempts, 2);
    assert.match(h.reason, /gave up after 2 attempts; last: HTTP 503/);
    assert.equal(service.received(sub.endpoint).length, 2);
  } finally {
    await db.query('ALTER SYSTEM RESET webpush.max_attempts');
    await reloadWorker(db);
  }
});

test('history retention: a large backlog is purged at once, in bounded batches', async () => {
  await db.query(`INSERT INTO webpush.history (message_id, subscription_id, endpoint, outcome, attempts, created_at, finished_at)
                  SELECT -i, 0, 'https://push.example.com/old', 'delivered', 1, now() - interval '40 days',
                         now() - interval '30 days'
                  FROM generate_series(1, 25000) i`);
  const recent = await value(`INSERT INTO webpush.history (message_id, subscription_id, endpoint, outcome, attempts, created_at)
                              VALUES (-25001, 0, 'https://push.example.com/new', 'delivered', 1, now()) RETURNING message_id`);
  await db.query("ALTER SYSTEM SET webpush.history_retention = '1d'");
  await reloadWorker(db);
  try {
    await until('the old history purged', async () =>
      Number(await value("SELECT count(*) FROM webpush.history WHERE endpoint = 'https://push.example.com/old'")) === 0,
    10000);
    assert.ok(await history(recent), 'recent history is kept');
  } finally {
    await db.query('DELETE FROM webpush.history WHERE message_id < 0');
    await db.query('ALTER SYSTEM RESET webpush.history_retention');
    await reloadWorker(db);
  }
});

test('a reload that changes the CA drops the connections made under the old one', async () => {
  const sub = service.subscribe();
  const id = await subscribe(sub);
  const portOf = async (label) => {
    await db.query('SELECT webpush_send($1::bigint, $2::text)', [id, label]);
    await service.waitFor(() => service.received(sub.endpoint).some((m) => String(m.payload) === label));
    return service.received(sub.endpoint).find((m) => String(m.payload) === label).remotePort;
  };
  const first = await portOf('first');
  await reloadWorker(db);
  assert.equal(await portOf('same settings'), first, 'a reload without changes keeps the connection');
  const copy = path.join(os.tmpdir(), `webpush-ca-${process.pid}.pem`);
  fs.copyFileSync(caFile, copy);
  fs.chmodSync(copy, 0o644);
  await db.query(`ALTER SYSTEM SET webpush.ca_file = '${copy}'`);
  await reloadWorker(db);
  try {
    assert.notEqual(await portOf('new CA file'), first, 'a new connection under the new CA file');
  } finally {
    await db.query('ALTER SYSTEM RESET webpush.ca_file');
    await reloadWorker(db);
    fs.rmSync(copy, { force: true });
  }
});

test('without the preload: keys, subscribing, queueing and send_now work', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webpush-nopreload-'));
  const port = Number(process.env.PGPORT) + 13;
  const env = { ...process.env, PGPORT: String(port), PGDATA: path.join(dir, 'data') };
  execFileSync('initdb', ['-D', env.PGDATA, '-A', 'trust', '-E', 'UTF8', '--locale=C'], { env, stdio: 'pipe' });
  fs.appendFileSync(path.join(env.PGDATA, 'postgresql.conf'),
    `listen_addresses = ''\nunix_socket_directories = '${process.env.PGHOST}'\nport = ${port}\nfsync = off\n`);
  execFileSync('pg_ctl', ['start', '-w', '-l', path.join(dir, 'log')], { env, stdio: 'pipe' });
  const plain = new Client({ host: process.env.PGHOST, port, database: 'postgres' });
  try {
    await plain.connect();
    await plain.query('CREATE EXTENSION webpush');
    const key = (await plain.query('SELECT webpush_keys() AS k')).rows[0].k;
    assert.equal(key.length, 87);
    await configure(plain);
    const sub = service.subscribe();
    const id = (await plain.query('SELECT webpush_subscribe($1) AS id', [sub])).rows[0].id;
    const notices = [];
    plain.on('notice', (n) => notices.push(n.message));
    assert.ok((await plain.query('SELECT webpush_send($1::bigint, $2::text) AS q', [id, 'queued'])).rows[0].q > 0);
    assert.ok(notices.some((m) => /no webpush worker serves database/.test(m)));
    const { rows } = await plain.query('SELECT * FROM webpush_send_now($1::bigint, $2::text)', [id, 'sent now']);
    assert.equal(rows[0].status, 201);
    await service.waitFor(() => service.received(sub.endpoint).some((m) => String(m.payload) === 'sent now'));
    assert.deepEqual((await plain.query('SELECT * FROM webpush_workers()')).rows, []);
    // The counters live in shared memory: without it, the views say why.
    for (const view of ['webpush.status', 'webpush.status_by_host', 'webpush.counters']) {
      const err = await plain.query(`SELECT * FROM ${view}`).then(() => null, (e) => e);
      assert.ok(err, `${view} is an error without the preload`);
      assert.equal(err.code, '55000');
      assert.match(err.hint, /shared_preload_libraries/);
    }
    // The trace reads the tables: it works.
    assert.ok((await plain.query('SELECT count(*) AS n FROM webpush_trace(for_message => $1)',
      [(await plain.query('SELECT max(message_id) AS m FROM webpush.history')).rows[0].m])).rows[0].n >= 1);
    // Restart-only settings exist only with the preload.
    await assert.rejects(plain.query('SHOW webpush.workers'), /unrecognized configuration parameter/);
  } finally {
    await plain.end().catch(() => {});
    execFileSync('pg_ctl', ['stop', '-m', 'fast'], { env, stdio: 'pipe' });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
