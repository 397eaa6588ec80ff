'use strict';
// The queue and the background worker: notifications fired by a trigger go
// out after COMMIT, exactly once, retried when the push service asks, and
// nothing is lost when the worker or the server dies mid-drain.
//
// The worker serves the database "postgres" (webpush.database_name in
// test/cluster.sh), where these tests run.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const {
  setUpFile, tearDownFile, connect, listen, Session, newSubscriber, workerPids, serverLog, pgCtl, startServer, SLOW,
} = require('./helpers');

let service;
const db = new Session('postgres', { reconnect: true });
const { until } = db;
const count = async (sql, params) => Number(await db.value(sql, params));
const subscribe = (userId) => newSubscriber(db, service, userId);

const queueEmpty = () => until('an empty queue', async () =>
  (await count('SELECT (SELECT count(*) FROM webpush.deliveries) + (SELECT count(*) FROM webpush.intake) AS n')) === 0);

before(async () => {
  service = await setUpFile(db);
  await db.query(`
    CREATE TABLE orders (id serial PRIMARY KEY, user_id text NOT NULL, item text NOT NULL);
    CREATE FUNCTION notify_order() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM webpush_send_user(NEW.user_id,
        jsonb_build_object('title', 'Order received', 'body', NEW.item, 'order', NEW.id));
      RETURN NEW;
    END $$;
    CREATE TRIGGER orders_notify AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION notify_order();`);
});

after(() => tearDownFile(db, service));

test('the worker runs, visible in pg_stat_activity', async () => {
  // It starts after the COMMIT of CREATE EXTENSION in before().
  await until('the worker, connected', async () =>
    (await count("SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'webpush worker' AND datname IS NOT NULL")) >= 1);
  const { rows } = await db.query(
    "SELECT datname, backend_type FROM pg_stat_activity WHERE backend_type = 'webpush worker'");
  assert.equal(rows.length, 1);
  assert.equal(rows[0].datname, 'postgres');
});

test('a trigger notifies every device of a user after COMMIT', async () => {
  const phone = await subscribe('alice');
  const laptop = await subscribe('alice');
  const other = await subscribe('bob');
  await db.query("INSERT INTO orders (user_id, item) VALUES ('alice', 'a book')");
  await service.waitFor(() => service.received(phone.endpoint).length === 1 &&
                              service.received(laptop.endpoint).length === 1);
  for (const sub of [phone, laptop]) {
    const [msg] = service.received(sub.endpoint);
    assert.deepEqual(msg.errors, []);
    const body = JSON.parse(msg.payload.toString());
    assert.equal(body.title, 'Order received');
    assert.equal(body.body, 'a book');
  }
  await queueEmpty();
  assert.equal(service.received(other.endpoint).length, 0);
  assert.equal(await count("SELECT count(*) AS n FROM webpush.history WHERE subscription_id = ANY($1) AND outcome = 'delivered'",
    [[phone.id, laptop.id]]), 2);
});

test('the generic trigger: rows without a user and rows too long to send commit; the long one arrives shortened', async () => {
  const sub = await subscribe('dora');
  await db.query(`CREATE TABLE tickets (id serial PRIMARY KEY, user_id text, subject text);
    CREATE TRIGGER tickets_notify AFTER INSERT ON tickets FOR EACH ROW
      EXECUTE FUNCTION webpush_notify('user_id', 'Ticket {id}', 'Re: {subject}', '/tickets/{id}')`);
  try {
    const long = 'ü'.repeat(5000);
    const { rows } = await db.query(
      "INSERT INTO tickets (user_id, subject) VALUES (NULL, 'nobody'), ('dora', $1) RETURNING id", [long]);
    assert.equal(rows.length, 2, 'both rows committed');
    await service.waitFor(() => service.received(sub.endpoint).length === 1);
    const [msg] = service.received(sub.endpoint);
    assert.deepEqual(msg.errors, []);
    assert.ok(msg.payload.length <= 3993, `payload of ${msg.payload.length} bytes fits`);
    const body = JSON.parse(msg.payload.toString());
    assert.equal(body.title, `Ticket ${rows[1].id}`);
    assert.equal(body.url, `/tickets/${rows[1].id}`);
    assert.ok(body.body.startsWith('Re: üü') && body.body.endsWith('ü…'), 'cut at a character, with an ellipsis');
    await queueEmpty();
  } finally {
    await db.query('DROP TABLE tickets');
  }
});

// The worker serving "postgres" (the tests check it is still the same one).
async function workerPid() {
  return (await workerPids(db, 'postgres'))[0];
}

// A table whose rows notify their user_id through webpush_notify('user_id',
// title), and a session of its own to insert from (a session's first
// firing queues as webpush_send_user does; the ones after it store an
// intake row for the worker to take in).
async function withNotifyingTable(table, title, fn) {
  await db.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, user_id text);
    CREATE TRIGGER ${table}_notify AFTER INSERT ON ${table} FOR EACH ROW
      EXECUTE FUNCTION webpush_notify('user_id', '${title}')`);
  const session = await connect();
  try {
    await fn(session);
  } finally {
    await session.end();
    await db.query(`DROP TABLE ${table}`);
  }
}

test('the generic trigger: after its first firing a row goes through webpush.intake; the worker makes the message, with that id, for the subscriptions the user has', async () => {
  const phone = await subscribe('erik');
  const laptop = await subscribe('erik');
  await withNotifyingTable('replies', 'Reply {id}', async (session) => {
    await session.query("INSERT INTO replies (user_id) VALUES ('erik')");
    await session.query("INSERT INTO replies (user_id) VALUES ('erik'), ('nobody-here')");
    await service.waitFor(() => service.received(phone.endpoint).length >= 1 &&
      service.received(laptop.endpoint).length >= 1);
    await queueEmpty();
    const titles = (sub) => service.received(sub.endpoint).map((m) => JSON.parse(m.payload.toString()).title).sort();
    const { rows: replies } = await db.query('SELECT id FROM replies ORDER BY id');
    const expected = [`Reply ${replies[0].id}`, `Reply ${replies[1].id}`];
    assert.deepEqual(titles(phone), expected, 'each reply once on the phone');
    assert.deepEqual(titles(laptop), expected, 'each reply once on the laptop');
    const { rows: status } = await db.query(`SELECT s.recipients, s.delivered
      FROM webpush.message_status s JOIN webpush.messages m ON m.id = s.id
      WHERE convert_from(m.payload, 'UTF8')::jsonb ->> 'title' LIKE 'Reply %' ORDER BY s.id`);
    assert.deepEqual(status.map((r) => [r.recipients, Number(r.delivered)]), [[2, 2], [2, 2]],
      'two messages of two recipients each; none for the user without subscriptions');
  });
});

test('an intake row that cannot become a message fails alone, with its reason; the rows around it are sent and the worker stays', async () => {
  const fiona = await subscribe('fiona');
  const gus = await subscribe('gus');
  const hal = await subscribe('hal');
  const ida = await subscribe('ida');
  const pid = await workerPid();
  // Rules a DBA added to the messages, which hal's and ida's notifications
  // break: a CHECK, and a constraint trigger checked at COMMIT.
  await db.query(`ALTER TABLE webpush.messages ADD CONSTRAINT not_for_hal
    CHECK (position(convert_to('for hal', 'UTF8') IN payload) = 0);
    CREATE FUNCTION not_for_ida() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF position(convert_to('for ida', 'UTF8') IN NEW.payload) > 0 THEN RAISE EXCEPTION 'not for ida'; END IF;
      RETURN NEW;
    END $$;
    CREATE CONSTRAINT TRIGGER not_for_ida AFTER INSERT ON webpush.messages
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION not_for_ida();`);
  let chores;
  try {
    await withNotifyingTable('chores', 'Chore {id} for {user_id}', async (session) => {
      await session.query("INSERT INTO chores (user_id) VALUES ('nobody-here')");
      await session.query("INSERT INTO chores (user_id) VALUES ('fiona'), ('hal'), ('ida'), ('gus')");
      await service.waitFor(() => service.received(fiona.endpoint).length === 1 &&
        service.received(gus.endpoint).length === 1);
      await queueEmpty();
      chores = (await db.query("SELECT id FROM chores WHERE user_id = 'hal'")).rows[0].id;
    });
  } finally {
    await db.query(`ALTER TABLE webpush.messages DROP CONSTRAINT not_for_hal;
      DROP TRIGGER not_for_ida ON webpush.messages; DROP FUNCTION not_for_ida();`);
  }
  assert.equal(service.received(hal.endpoint).length, 0);
  assert.equal(service.received(ida.endpoint).length, 0);
  const { rows: idas } = await db.query("SELECT outcome, reason FROM webpush.history WHERE user_id = 'ida'");
  assert.deepEqual(idas.map((r) => [r.outcome, r.reason]), [['failed', 'could not become a message: not for ida']],
    'a constraint checked at COMMIT refuses the row alone too');
  const { rows } = await db.query(`SELECT outcome, reason, user_id, subscription_id
    FROM webpush.history WHERE user_id = 'hal'`);
  assert.equal(rows.length, 1, 'hal\'s notification is in the history once');
  assert.equal(rows[0].outcome, 'failed');
  assert.equal(rows[0].subscription_id, null);
  assert.match(rows[0].reason, /could not become a message: .*not_for_hal/);
  const { rows: trace } = await db.query("SELECT state, reason FROM webpush_trace(for_user => 'hal')");
  assert.deepEqual(trace.map((r) => r.state), ['failed'], 'webpush_trace shows it');
  assert.ok(chores > 0);
  assert.equal(await workerPid(), pid, 'the same worker: it did not exit');
});

test('a transaction of the worker that fails (not for a row\'s data) is tried again: the outcome of what was sent is written once, nothing is sent twice', async () => {
  const sub = await subscribe('ines');
  const pid = await workerPid();
  // A DBA's trigger that refuses history rows while the flag is set.
  await db.query(`CREATE TABLE history_closed (closed boolean);
    INSERT INTO history_closed VALUES (true);
    CREATE FUNCTION refuse_history() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (SELECT closed FROM public.history_closed) THEN
        RAISE EXCEPTION 'the history is closed' USING ERRCODE = 'serialization_failure';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_history BEFORE INSERT ON webpush.history
      FOR EACH ROW EXECUTE FUNCTION refuse_history();`);
  try {
    const log = serverLog();
    const failedTries = () => log.count(/webpush worker: a transaction failed; trying again/g);
    const { rows } = await db.query("SELECT webpush_send($1::bigint, 'once'::text) AS id", [sub.id]);
    const id = rows[0].id;
    await service.waitFor(() => service.received(sub.endpoint).length === 1);
    // Sent, but its outcome cannot be written: the delivery stays claimed.
    await until('two failed tries of the worker', async () => failedTries() >= 2);
    assert.equal(await count('SELECT count(*) AS n FROM webpush.history WHERE message_id = $1', [id]), 0);
    assert.equal(await count(
      'SELECT count(*) AS n FROM webpush.deliveries WHERE message_id = $1 AND claimed_by IS NOT NULL', [id]), 1);
    await db.query('UPDATE history_closed SET closed = false');
    await until('the outcome, written', async () =>
      (await count('SELECT count(*) AS n FROM webpush.history WHERE message_id = $1', [id])) === 1);
    assert.equal(await count('SELECT count(*) AS n FROM webpush.deliveries WHERE message_id = $1', [id]), 0);
    assert.equal(service.received(sub.endpoint).length, 1, 'sent once');
    assert.equal(await workerPid(), pid, 'the same worker: it did not exit');
  } finally {
    await db.query(`DROP TRIGGER refuse_history ON webpush.history;
      DROP FUNCTION refuse_history(); DROP TABLE history_closed;`);
  }
});

test('an outcome a rule refuses to record is kept and written later, while other notifications go on; nothing is sent twice', async () => {
  const kim = await subscribe('kim');
  const lea = await subscribe('lea');
  const pid = await workerPid();
  // A DBA's trigger that refuses kim's history rows while the flag is set.
  await db.query(`CREATE TABLE kim_closed (closed boolean);
    INSERT INTO kim_closed VALUES (true);
    CREATE FUNCTION refuse_kim() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.user_id = 'kim' AND (SELECT closed FROM public.kim_closed) THEN RAISE EXCEPTION 'no history for kim'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_kim BEFORE INSERT ON webpush.history
      FOR EACH ROW EXECUTE FUNCTION refuse_kim();`);
  try {
    const log = serverLog();
    const refusals = () => log.count(/could not record the outcome of notification \d+ for subscription \d+: no history for kim/g);
    const first = Number((await db.query("SELECT webpush_send($1::bigint, 'for kim'::text) AS id", [kim.id])).rows[0].id);
    await service.waitFor(() => service.received(kim.endpoint).length === 1);
    await until('kim\'s outcome refused twice', async () => refusals() >= 2);
    // Meanwhile lea's notification is claimed, sent and recorded.
    const second = Number((await db.query("SELECT webpush_send($1::bigint, 'for lea'::text) AS id", [lea.id])).rows[0].id);
    await until('lea\'s outcome, written', async () =>
      (await count("SELECT count(*) AS n FROM webpush.history WHERE message_id = $1 AND outcome = 'delivered'", [second])) === 1);
    assert.equal(await count('SELECT count(*) AS n FROM webpush.history WHERE message_id = $1', [first]), 0);
    assert.equal(await count(
      'SELECT count(*) AS n FROM webpush.deliveries WHERE message_id = $1 AND claimed_by IS NOT NULL', [first]), 1,
    'kim\'s delivery stays claimed while its outcome waits');
    await db.query('UPDATE kim_closed SET closed = false');
    await until('kim\'s outcome, written', async () =>
      (await count("SELECT count(*) AS n FROM webpush.history WHERE message_id = $1 AND outcome = 'delivered'", [first])) === 1);
    assert.equal(await count('SELECT count(*) AS n FROM webpush.deliveries WHERE message_id IN ($1, $2)', [first, second]), 0);
    assert.equal(service.received(kim.endpoint).length, 1, 'sent once');
    assert.equal(service.received(lea.endpoint).length, 1, 'sent once');
    assert.equal(await workerPid(), pid, 'the same worker: it did not exit');
  } finally {
    await db.query(`DROP TRIGGER refuse_kim ON webpush.history;
      DROP FUNCTION refuse_kim(); DROP TABLE kim_closed;`);
  }
});

test('the generic trigger: the message keeps the intake row\'s id, and the TTL counts from the INSERT', async () => {
  const sub = await subscribe('fay');
  await withNotifyingTable('notes', 'Note {id}', async (session) => {
    await session.query("INSERT INTO notes (user_id) VALUES ('fay')");
    await service.waitFor(() => service.received(sub.endpoint).length === 1);
    // Inside its transaction the firing's own intake row is visible.
    await session.query('BEGIN');
    await session.query("INSERT INTO notes (user_id) VALUES ('fay')");
    const { rows: [row] } = await session.query('SELECT id, queued_at, now() AS now FROM webpush.intake');
    await session.query('COMMIT');
    assert.ok(row, 'the second firing stored an intake row');
    assert.equal(row.queued_at.getTime(), row.now.getTime(), 'queued at the transaction\'s time');
    await service.waitFor(() => service.received(sub.endpoint).length === 2);
    await queueEmpty();
    const { rows: [m] } = await db.query(
      "SELECT send_at, expires_at - send_at = interval '28 days' AS default_ttl FROM webpush.messages WHERE id = $1", [row.id]);
    assert.ok(m, 'the message has the intake row\'s id');
    assert.equal(m.send_at.getTime(), row.queued_at.getTime(), 'sent from when it was queued');
    assert.equal(m.default_ttl, true);
  });
});

test('a PL/pgSQL trigger\'s webpush_send_user returns the id of the message the worker makes after COMMIT; cancelled in its transaction, nothing goes out', async () => {
  const phone = await subscribe('polly');
  const laptop = await subscribe('polly');
  await db.query(`CREATE TABLE parcels (id serial PRIMARY KEY, user_id text, message_id bigint, recipients integer);
    CREATE FUNCTION notify_parcel() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      sent record;
    BEGIN
      SELECT * INTO sent FROM webpush_send_user(NEW.user_id,
        webpush_notification('Parcel ' || NEW.id, url => '/parcels/' || NEW.id));
      UPDATE parcels SET message_id = sent.message_id, recipients = sent.recipients WHERE id = NEW.id;
      RETURN NEW;
    END $$;
    CREATE TRIGGER parcels_notify AFTER INSERT ON parcels FOR EACH ROW EXECUTE FUNCTION notify_parcel()`);
  try {
    const { rows: [sent] } = await db.query(
      "INSERT INTO parcels (user_id) VALUES ('polly') RETURNING id");
    await service.waitFor(() => service.received(phone.endpoint).length === 1 &&
      service.received(laptop.endpoint).length === 1);
    await queueEmpty();
    const { rows: [p] } = await db.query('SELECT message_id, recipients FROM parcels WHERE id = $1', [sent.id]);
    assert.equal(p.recipients, null, 'recipients are counted after COMMIT');
    const { rows: [status] } = await db.query(
      'SELECT recipients, delivered FROM webpush.message_status WHERE id = $1', [p.message_id]);
    assert.deepEqual([status.recipients, Number(status.delivered)], [2, 2], 'the returned id is the message sent');
    assert.equal(JSON.parse(service.received(phone.endpoint)[0].payload.toString()).title, `Parcel ${sent.id}`);

    await db.query('BEGIN');
    const { rows: [cancelled] } = await db.query(
      "INSERT INTO parcels (user_id) VALUES ('polly') RETURNING id");
    const { rows: [c] } = await db.query(
      'SELECT webpush_cancel(message_id) AS n, message_id FROM parcels WHERE id = $1', [cancelled.id]);
    await db.query('COMMIT');
    assert.equal(Number(c.n), 2, 'both deliveries cancelled');
    await db.query("INSERT INTO parcels (user_id) VALUES ('polly')");
    await service.waitFor(() => service.received(phone.endpoint).length === 2);
    await queueEmpty();
    const titles = service.received(phone.endpoint).map((m) => JSON.parse(m.payload.toString()).title);
    assert.ok(!titles.includes(`Parcel ${cancelled.id}`), 'the cancelled one was not sent');
    assert.equal(await count("SELECT count(*) AS n FROM webpush.history WHERE message_id = $1 AND outcome = 'cancelled'",
      [c.message_id]), 2);
  } finally {
    await db.query('DROP TABLE parcels; DROP FUNCTION notify_parcel()');
  }
});

test('a rolled-back transaction sends nothing', async () => {
  const sub = await subscribe('carol');
  await db.query('BEGIN');
  await db.query("INSERT INTO orders (user_id, item) VALUES ('carol', 'never')");
  await db.query('ROLLBACK');
  await db.query("INSERT INTO orders (user_id, item) VALUES ('carol', 'marker')");
  await service.waitFor(() => service.received(sub.endpoint).length >= 1);
  await queueEmpty();
  const bodies = service.received(sub.endpoint).map((m) => JSON.parse(m.payload.toString()).body);
  assert.deepEqual(bodies, ['marker'], 'only the committed notification arrived');
});

test('every committed notification arrives exactly once with its payload intact', async () => {
  const subs = [await subscribe(), await subscribe(), await subscribe()];
  const n = 300;
  await db.query(`SELECT webpush_send(s.id, 'msg-' || s.id || '-' || i)
                  FROM unnest($1::bigint[]) AS s(id), generate_series(1, $2) AS i`,
  [subs.map((s) => s.id), n]);
  await service.waitFor(() => subs.every((s) => service.received(s.endpoint).length >= n), 30000);
  await queueEmpty();
  for (const s of subs) {
    const payloads = service.received(s.endpoint).map((m) => m.payload.toString());
    assert.equal(payloads.length, n, 'no duplicates');
    const expected = Array.from({ length: n }, (_, i) => `msg-${s.id}-${i + 1}`).sort();
    assert.deepEqual([...payloads].sort(), expected);
  }
});

test('a broadcast drains in primary-key order: each claim starts where the last ended', async () => {
  const n = 1000;
  const subs = Array.from({ length: n }, () => service.subscribe());
  const { rows } = await db.query(
    'SELECT array_agg(webpush_subscribe(s)) AS ids FROM jsonb_array_elements($1::jsonb) AS s',
    [JSON.stringify(subs)]);
  // What the worker's scans of the deliveries read so far.
  const reads = async () => {
    const { rows: r } = await db.query(`SELECT
        (SELECT idx_tup_read FROM pg_stat_user_indexes
          WHERE schemaname = 'webpush' AND indexrelname = 'deliveries_pkey') AS key,
        (SELECT seq_scan FROM pg_stat_user_tables
          WHERE schemaname = 'webpush' AND relname = 'deliveries') AS seq`);
    return { key: Number(r[0].key), seq: Number(r[0].seq) };
  };
  // This session's own scans of the deliveries (queueEmpty() counts them)
  // go into the statistics before the first reading, not during the drain:
  // PostgreSQL 15 and later flush a session's statistics at most once a
  // second unless told to.
  await db.query(`DO $$ BEGIN
    IF to_regproc('pg_stat_force_next_flush') IS NOT NULL THEN PERFORM pg_stat_force_next_flush(); END IF;
  END $$`);
  const before = await reads();
  await db.query('SELECT webpush_send_many($1::bigint[], \'{"title": "to everyone"}\'::jsonb)', [rows[0].ids]);
  await service.waitFor(() => subs.every((s) => service.received(s.endpoint).length === 1), 60000);
  // The worker's statistics arrive after its transactions; every claim
  // reads the primary key, so once n reads are there, so are the claims'.
  let after;
  await until('the worker\'s index reads, reported', async () => {
    after = await reads();
    return after.key - before.key >= n;
  }, 30000);
  const keyReads = after.key - before.key;
  // Each claim reads its hundred recipients and the next one; the settling
  // reads the message once from its first recipient when it seems done:
  // about 2n.  The worker's counts of the queue for webpush.status read it
  // whole too, about once a second during the drain: 2.5n to 5n in all
  // here.  A claim that started from the first recipient each time would
  // read again the entries of the recipients in flight and of those sent
  // and not yet found dead, more for each claim as the drain goes on: 12n
  // at 1,000 recipients, and the drain of 2,000 took over a minute.  One
  // that scanned the table would count a sequential scan.
  console.log(`# ${keyReads} primary key entries read for ${n} recipients`);
  assert.ok(keyReads < 8 * n, `${keyReads} primary key entries read`);
  assert.equal(after.seq - before.seq, 0, 'no sequential scan of the deliveries');
});

test('recipients a claim skipped are sent all the same, and the worker waits for them without spinning', async () => {
  const n = 200;
  const subs = Array.from({ length: n }, () => service.subscribe());
  const { rows } = await db.query(
    'SELECT array_agg(webpush_subscribe(s) ORDER BY o) AS ids FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(s, o)',
    [JSON.stringify(subs)]);
  const ids = rows[0].ids.map(Number);
  const { rows: [m] } = await db.query(
    `SELECT message_id FROM webpush_send_many($1::bigint[], '{"title": "held"}'::jsonb,
                                              send_at => now() + interval '2 seconds')`, [ids]);
  // Another transaction holds the first recipients' rows when the message
  // falls due: the claims skip them and go on past them.
  const held = [...ids].sort((a, b) => a - b).slice(0, 5);
  const holder = await connect('postgres');
  try {
    await holder.query('BEGIN');
    const { rowCount } = await holder.query(
      'SELECT FROM webpush.deliveries WHERE message_id = $1 AND subscription_id = ANY ($2) FOR UPDATE',
      [m.message_id, held]);
    assert.equal(rowCount, held.length, 'locked before the message fell due');
    const heldSubs = subs.filter((s, i) => held.includes(ids[i]));
    const others = subs.filter((s, i) => !held.includes(ids[i]));
    await service.waitFor(() => others.every((s) => service.received(s.endpoint).length === 1), 30000);
    assert.ok(heldSubs.every((s) => service.received(s.endpoint).length === 0), 'the held rows were not sent');
    // The message is still being looked at: its last claim ended past the
    // held rows, and only a check from its first recipient finds them.
    const { rows: [p] } = await db.query('SELECT pending FROM webpush.messages WHERE id = $1', [m.message_id]);
    assert.equal(p.pending, true, 'still pending');
    // While the rows are held the worker looks again now and then, not in a loop.
    const pid = await workerPid();
    const cpu = () => fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
      .slice(11, 13).reduce((a, x) => a + Number(x), 0);
    const ticks0 = cpu();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    const share = (cpu() - ticks0) * 10 / (Date.now() - t0);
    console.log(`# worker CPU while recipients were held: ${(share * 100).toFixed(1)}%`);
    assert.ok(share < 0.05, `the worker used ${(share * 100).toFixed(1)}% of a core waiting`);
    await holder.query('COMMIT');
    await service.waitFor(() => heldSubs.every((s) => service.received(s.endpoint).length === 1), 30000);
  } finally {
    await holder.end();
  }
  await queueEmpty();
  assert.ok(subs.every((s) => service.received(s.endpoint).length === 1), 'each exactly once');
});

test('a subscription id below zero is a recipient like any other', async () => {
  // Ids are bigints a DBA may give explicitly: a claim's first recipient is
  // the smallest bigint, not zero.
  const neg = service.subscribe();
  const pos = service.subscribe();
  const { rows: [a] } = await db.query('SELECT webpush_subscribe($1) AS id', [neg]);
  const { rows: [b] } = await db.query('SELECT webpush_subscribe($1) AS id', [pos]);
  const { rows: [m] } = await db.query(
    "UPDATE webpush.subscriptions SET id = '-9223372036854775808' WHERE id = $1 RETURNING id", [a.id]);
  await db.query(`SELECT webpush_send_many(ARRAY[$1, $2]::bigint[], 'to both'),
                         webpush_send($1::bigint, 'to the first')`, [m.id, b.id]);
  await service.waitFor(() => service.received(neg.endpoint).length === 2 &&
                              service.received(pos.endpoint).length === 1, 10000);
  await queueEmpty();
  assert.deepEqual(service.received(neg.endpoint).map((x) => x.payload.toString()).sort(),
    ['to both', 'to the first']);
});

// n subscriptions of the push service, answered 201 and 400 in turn after
// delayMs, stored in order: their subscriptions and ids.
async function mixedRecipients(n, delayMs) {
  const subs = Array.from({ length: n }, () => service.subscribe());
  subs.forEach((s, i) => service.respond(s.endpoint, { status: i % 2 ? 400 : 201, delayMs }));
  const { rows } = await db.query(
    'SELECT array_agg(webpush_subscribe(s) ORDER BY o) AS ids FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(s, o)',
    [JSON.stringify(subs)]);
  return { subs, ids: rows[0].ids.map(Number) };
}

// Each recipient of message_id has one history row with its own answer.
async function assertOwnOutcomes(messageId, ids) {
  const { rows: h } = await db.query(
    'SELECT subscription_id, outcome, status FROM webpush.history WHERE message_id = $1 ORDER BY subscription_id',
    [messageId]);
  assert.deepEqual(h.map((r) => [Number(r.subscription_id), r.outcome, r.status]),
    ids.map((id, i) => [id, i % 2 ? 'failed' : 'delivered', i % 2 ? 400 : 201]).sort((a, b) => a[0] - b[0]),
    'one history row per recipient, with its own outcome');
}

for (const [what, rewrite] of [
  ['VACUUM FULL', ['VACUUM FULL webpush.deliveries']],
  ['a column type change', ['ALTER TABLE webpush.deliveries ALTER COLUMN last_status TYPE integer',
    'ALTER TABLE webpush.deliveries ALTER COLUMN last_status TYPE smallint']],
]) {
  test(`a rewrite of the deliveries during a drain (${what}) records each outcome on its own row, once`, async () => {
    // Half are delivered, half fail for good: both kinds of record meet the rewrite.
    const { subs, ids } = await mixedRecipients(60, 1500);
    const { rows: [m] } = await db.query('SELECT message_id FROM webpush_send_many($1::bigint[], \'rewritten\')', [ids]);
    await until('requests in flight', async () =>
      (await count('SELECT count(*) AS n FROM webpush.deliveries WHERE claimed_by IS NOT NULL')) > 0);
    // Every row gets a new place while the worker holds the old ones.
    for (const sql of rewrite) await db.query(sql);
    await queueEmpty();
    assert.ok(subs.every((s) => service.received(s.endpoint).length === 1), 'each sent once');
    await assertOwnOutcomes(m.message_id, ids);
  });
}

test('a VACUUM FULL that slides one claim\'s rows onto each other\'s old places records each outcome on its own row', async () => {
  // One claim's rows share their xmin, and VACUUM FULL keeps it: only the
  // key tells a stale ctid's new occupant from the claimed row.  The claim
  // writes its row versions into the space a cancelled broadcast left near
  // the front; the rewrite then slides them down by the rows of another
  // broadcast cancelled meanwhile, so each old ctid holds another of them.
  // 100: all in flight at once (webpush.max_in_flight_per_host), one claim.
  const { subs, ids } = await mixedRecipients(100, 2000);
  const later = "send_at => now() + interval '1 hour'";
  const { rows: [front] } = await db.query(`SELECT message_id FROM webpush_send_many($1::bigint[], 'front', ${later})`,
    [ids.slice(0, 20)]);
  const { rows: [space] } = await db.query(`SELECT message_id FROM webpush_send_many($1::bigint[], 'space', ${later})`,
    [ids]);
  const { rows: [m] } = await db.query(
    "SELECT message_id FROM webpush_send_many($1::bigint[], 'slid', send_at => now() + interval '3 seconds')", [ids]);
  await db.query('SELECT webpush_cancel($1)', [space.message_id]);
  await db.query('VACUUM webpush.deliveries');
  await until('the broadcast claimed', async () =>
    (await count('SELECT count(*) AS n FROM webpush.deliveries WHERE message_id = $1 AND claimed_by IS NOT NULL',
      [m.message_id])) > 0, 20000 * SLOW);
  await db.query('SELECT webpush_cancel($1)', [front.message_id]);
  await db.query('VACUUM FULL webpush.deliveries');
  await queueEmpty();
  assert.ok(subs.every((s) => service.received(s.endpoint).length === 1), 'each sent once');
  await assertOwnOutcomes(m.message_id, ids);
});

test('commit-to-delivery latency is milliseconds (wake on commit, no polling)', async () => {
  const sub = await subscribe();
  const latencies = [];
  for (let i = 0; i < 30; i++) {
    const before = service.received(sub.endpoint).length;
    const t0 = Date.now();
    await db.query('SELECT webpush_send($1::bigint, $2)', [sub.id, `ping ${i}`]);
    await service.waitFor(() => service.received(sub.endpoint).length > before);
    latencies.push(service.received(sub.endpoint)[before].receivedAt - t0);
  }
  latencies.sort((a, b) => a - b);
  const median = latencies[15];
  console.log(`# commit-to-delivery: median ${median} ms, max ${latencies[29]} ms over 30 sends`);
  assert.ok(median < 100 * SLOW, `median ${median} ms`);
});

for (const [status, header, label, atLeastMs] of [
  [429, () => '2', 'seconds', 2000],
  // An HTTP-date 5 s ahead, truncated to the second: at least 4 s, which
  // the plain backoff of a 503 (0.5 to 1.5 s) would not wait.
  [503, () => new Date(Date.now() + 5000).toUTCString(), 'an HTTP-date', 4000],
]) {
  test(`${status} with Retry-After in ${label} is retried no earlier than told`, async () => {
    const sub = await subscribe();
    service.respond(sub.endpoint, { status, headers: { 'retry-after': header() } });
    await db.query('SELECT webpush_send($1::bigint, $2)', [sub.id, 'patience']);
    await service.waitFor(() => service.received(sub.endpoint).length >= 2, 15000);
    const [first, second] = service.received(sub.endpoint);
    assert.ok(second.receivedAt - first.receivedAt >= atLeastMs,
      `retried after ${second.receivedAt - first.receivedAt} ms`);
    assert.equal(second.payload.toString(), 'patience');
    await queueEmpty();
    const { rows } = await db.query('SELECT outcome, attempts FROM webpush.history WHERE subscription_id = $1', [sub.id]);
    assert.deepEqual(rows, [{ outcome: 'delivered', attempts: 2 }]);
  });
}

test('503 and a dropped connection are retried until delivered', async () => {
  const sub = await subscribe();
  service.respond(sub.endpoint, { status: 503 }, { drop: true });
  await db.query('SELECT webpush_send($1::bigint, $2)', [sub.id, 'persist']);
  await service.waitFor(() => service.received(sub.endpoint).length >= 3, 15000);
  await queueEmpty();
  const msgs = service.received(sub.endpoint);
  assert.equal(msgs.length, 3);
  assert.ok(msgs.every((m) => m.payload.toString() === 'persist'));
  const { rows } = await db.query('SELECT outcome, attempts, status FROM webpush.history WHERE subscription_id = $1', [sub.id]);
  assert.deepEqual(rows, [{ outcome: 'delivered', attempts: 3, status: 201 }]);
});

test('a push service taking 4 s to answer does not hold up other deliveries', async () => {
  const slow = await subscribe();
  const fast = await subscribe();
  service.respond(slow.endpoint, { status: 201, delayMs: 4000 * SLOW });
  await db.query('SELECT webpush_send($1::bigint, $2)', [slow.id, 'slow']);
  await service.waitFor(() => service.received(slow.endpoint).length === 1);
  const t0 = Date.now();
  await db.query("SELECT webpush_send($1::bigint, 'fast ' || i) FROM generate_series(1, 20) i", [fast.id]);
  await service.waitFor(() => service.received(fast.endpoint).length === 20, 3000 * SLOW);
  await until('the fast ones recorded', async () =>
    (await count("SELECT count(*) AS n FROM webpush.history WHERE subscription_id = $1", [fast.id])) === 20);
  assert.ok(Date.now() - t0 < 3000 * SLOW, 'fast deliveries finished while the slow one was pending');
  assert.equal(await count('SELECT count(*) AS n FROM webpush.deliveries WHERE subscription_id = $1', [slow.id]), 1,
    'the slow one is still in flight');
  await queueEmpty();
});

test('what went back while a push service seemed stalled goes out as soon as it answers, not after webpush.timeout', async () => {
  // A hundred requests (webpush.max_in_flight_per_host) held 2.5 s, twice
  // what makes a host look stalled: the deliveries claimed meanwhile go
  // back to the queue for webpush.timeout (30 s), and the host's first
  // answers make them due at once.
  const held = await subscribe();
  const waiting = await subscribe();
  const holdMs = 2500 * SLOW;
  service.respond(held.endpoint, ...Array.from({ length: 100 }, () => ({ status: 201, delayMs: holdMs })));
  const t0 = Date.now();
  await db.query("SELECT webpush_send($1::bigint, 'held ' || i) FROM generate_series(1, 100) i", [held.id]);
  await service.waitFor(() => service.received(held.endpoint).length === 100);
  await db.query("SELECT webpush_send($1::bigint, 'waiting ' || i) FROM generate_series(1, 10) i", [waiting.id]);
  await until('the waiting ones sent back for webpush.timeout', async () =>
    (await count("SELECT count(*) AS n FROM webpush.deliveries WHERE subscription_id = $1 AND claimed_by IS NULL AND next_attempt_at > now() + interval '20 s'",
      [waiting.id])) > 0, holdMs);
  await service.waitFor(() => service.received(waiting.endpoint).length === 10, 10000);
  const took = Date.now() - t0;
  assert.ok(took < holdMs + 5000 * SLOW, `the waiting ones went ${took} ms after the first send, before webpush.timeout`);
  await queueEmpty();
  assert.equal(await count('SELECT count(*) AS n FROM webpush.history WHERE subscription_id = ANY ($1) AND outcome = $2',
    [[held.id, waiting.id], 'delivered']), 110);
  assert.equal(service.received(held.endpoint).length, 100);
  assert.equal(service.received(waiting.endpoint).length, 10);
});

test("WNS's reason, given only in X-WNS-Error-Description, is in last_error and the history", async () => {
  const sub = await subscribe('worker-wns');
  service.respond(sub.endpoint,
    { status: 406, headers: { 'retry-after': '3', 'x-wns-error-description': 'The channel is throttled' } },
    { status: 400, headers: { 'x-wns-error-description': 'Invalid channel URI' } });
  await db.query('SELECT webpush_send($1::bigint, $2)', [sub.id, 'to Edge']);
  await until('the 406 waiting for its retry', async () => {
    const { rows } = await db.query('SELECT last_status, last_error FROM webpush.deliveries WHERE subscription_id = $1', [sub.id]);
    return rows.length === 1 && rows[0].last_status === 406;
  });
  const { rows: [waiting] } = await db.query('SELECT last_error FROM webpush.deliveries WHERE subscription_id = $1', [sub.id]);
  assert.equal(waiting.last_error, 'HTTP 406 (X-WNS-Error-Description: The channel is throttled)');
  await until('the 400 recorded', async () =>
    (await count('SELECT count(*) AS n FROM webpush.history WHERE subscription_id = $1', [sub.id])) === 1);
  const { rows } = await db.query('SELECT outcome, status, attempts, reason FROM webpush.history WHERE subscription_id = $1', [sub.id]);
  assert.deepEqual(rows, [{ outcome: 'failed', status: 400, attempts: 2, reason: 'HTTP 400 (X-WNS-Error-Description: Invalid channel URI)' }]);
  assert.equal(service.received(sub.endpoint).length, 2);
});

for (const status of [404, 410]) {
  test(`${status} deletes the subscription, NOTIFYs webpush_subscription_gone, and fails what else waits for it`, async () => {
    const listener = await listen('postgres', 'webpush_subscription_gone');
    const sub = await subscribe(`worker-gone-${status}`);
    // The first message is told to come back in 5 s; meanwhile the second
    // learns that the subscription is gone.  A 503: a 429's Retry-After
    // would hold the whole host, the second message with it, and the two
    // would go out together when it ends.
    service.respond(sub.endpoint, { status: 503, headers: { 'retry-after': '5' } }, { status });
    await db.query('SELECT webpush_send($1::bigint, $2)', [sub.id, 'first']);
    await service.waitFor(() => service.received(sub.endpoint).length === 1);
    await until('the first one waiting for its retry', async () =>
      (await count('SELECT count(*) AS n FROM webpush.deliveries WHERE subscription_id = $1 AND claimed_by IS NULL AND attempts = 1', [sub.id])) === 1);
    await db.query('SELECT webpush_send($1::bigint, $2)', [sub.id, 'second']);
    await until('both recorded', async () =>
      (await count('SELECT count(*) AS n FROM webpush.history WHERE subscription_id = $1', [sub.id])) === 2);
    assert.equal(await count('SELECT count(*) AS n FROM webpush.subscriptions WHERE id = $1', [sub.id]), 0);
    assert.equal(await count('SELECT count(*) AS n FROM webpush.deliveries WHERE subscription_id = $1', [sub.id]), 0);
    // The waiting one fails when its retry comes due, unsent.
    const { rows } = await db.query(
      'SELECT outcome, status, attempts, reason FROM webpush.history WHERE subscription_id = $1 ORDER BY finished_at', [sub.id]);
    assert.equal(rows[0].outcome, 'failed');
    assert.equal(rows[0].status, status);
    assert.equal(rows[1].outcome, 'failed');
    assert.equal(rows[1].attempts, 1, 'the waiting message was not sent again');
    assert.match(rows[1].reason, /subscription gone/);
    assert.equal(service.received(sub.endpoint).length, 2);
    // The application hears of it once, from the worker's transaction.
    const notes = await listener.waitFor((n) => String(n.subscription_id) === String(sub.id));
    assert.deepEqual(notes, [{ subscription_id: Number(sub.id), status }]);
    await listener.end();
  });
}

test('a 410 from the old endpoint of a browser that subscribed again keeps the subscription, and the message goes to the new one', async () => {
  const listener = await listen('postgres', 'webpush_subscription_gone');
  const old = await subscribe('worker-moved-410');
  // The old endpoint answers 410, late: the browser subscribes again
  // (pushsubscriptionchange) while the request is in flight.
  service.respond(old.endpoint, { status: 410, delayMs: 1500 });
  await db.query('SELECT webpush_send($1::bigint, $2)', [old.id, 'sent while moving']);
  await until('the request in flight', async () =>
    (await count('SELECT count(*) AS n FROM webpush.deliveries WHERE subscription_id = $1 AND claimed_by IS NOT NULL', [old.id])) === 1);
  const renewed = service.subscribe();
  const { rows: [moved] } = await db.query(
    'SELECT webpush_subscribe($1, $2, old_endpoint => $3) AS id', [renewed, 'worker-moved-410', old.endpoint]);
  assert.equal(String(moved.id), String(old.id), 'the same subscription, moved');
  // The 410 came from an endpoint the subscription no longer has: the
  // delivery is sent again, to the current one.
  await service.waitFor(() => service.received(renewed.endpoint).length === 1);
  assert.equal(service.received(renewed.endpoint)[0].payload.toString(), 'sent while moving');
  await until('the delivery recorded', async () =>
    (await count('SELECT count(*) AS n FROM webpush.history WHERE subscription_id = $1', [old.id])) === 1);
  const { rows: h } = await db.query(
    'SELECT outcome, status, attempts, endpoint FROM webpush.history WHERE subscription_id = $1', [old.id]);
  assert.deepEqual(h, [{ outcome: 'delivered', status: 201, attempts: 2, endpoint: renewed.endpoint }]);
  const { rows } = await db.query('SELECT endpoint FROM webpush.subscriptions WHERE id = $1', [old.id]);
  assert.deepEqual(rows, [{ endpoint: renewed.endpoint }], 'kept, with its new endpoint');
  assert.deepEqual(listener.notes.filter((n) => String(n.subscription_id) === String(old.id)), [],
    'the application was not told it is gone');
  await listener.end();
});

test('permanent errors (400, 401, 403, 413) fail at once with the reason recorded', async () => {
  for (const status of [400, 401, 403, 413]) {
    const sub = await subscribe();
    service.respond(sub.endpoint, { status, body: `{"reason":"Bad${status}"}` });
    await db.query('SELECT webpush_send($1::bigint, $2)', [sub.id, 'x']);
    await until(`the ${status} recorded`, async () =>
      (await count('SELECT count(*) AS n FROM webpush.history WHERE subscription_id = $1', [sub.id])) === 1);
    const { rows } = await db.query('SELECT outcome, status, attempts, reason FROM webpush.history WHERE subscription_id = $1', [sub.id]);
    assert.equal(rows[0].outcome, 'failed');
    assert.equal(rows[0].status, status);
    assert.equal(rows[0].attempts, 1);
    assert.match(rows[0].reason, new RegExp(`Bad${status}`));
    assert.equal(await count('SELECT count(*) AS n FROM webpush.subscriptions WHERE id = $1', [sub.id]), 1, 'kept');
  }
});

test('a message whose TTL runs out while waiting is not sent, and is recorded as expired', async () => {
  const sub = await subscribe();
  service.respond(sub.endpoint, { status: 429, headers: { 'retry-after': '5' } });
  await db.query('SELECT webpush_send($1::bigint, $2, ttl => 2)', [sub.id, 'stale soon']);
  await until('the expiry recorded', async () =>
    (await count("SELECT count(*) AS n FROM webpush.history WHERE subscription_id = $1 AND outcome = 'expired'", [sub.id])) === 1);
  assert.equal(service.received(sub.endpoint).length, 1, 'only the first attempt went out');
});

// Queues n notifications over a few subscriptions, lets the drain start,
// breaks things with crash(), and checks that every one arrives.
async function drainThrough(label, n, crash) {
  const subs = [await subscribe(), await subscribe(), await subscribe(), await subscribe()];
  service.defaultResponse = { status: 201, delayMs: 150 };
  try {
    await db.query(`SELECT webpush_send(s.id, $3 || '-' || s.id || '-' || i)
                    FROM unnest($1::bigint[]) AS s(id), generate_series(1, $2) AS i`,
    [subs.map((s) => s.id), n / subs.length, label]);
    const got = () => subs.reduce((a, s) => a + service.received(s.endpoint).length, 0);
    await service.waitFor(() => got() >= n / 5, 30000);
    await crash();
    await db.connect();
    await service.waitFor(() => {
      const distinct = new Set(subs.flatMap((s) => service.received(s.endpoint).map((m) => String(m.payload))));
      return distinct.size === n;
    }, 60000);
    await queueEmpty();
  } finally {
    service.defaultResponse = { status: 201 };
  }
  const all = subs.flatMap((s) => service.received(s.endpoint).map((m) => String(m.payload)));
  const distinct = new Set(all);
  assert.equal(distinct.size, n, 'nothing lost');
  console.log(`# ${label}: ${n} queued, ${distinct.size} delivered, ${all.length - distinct.size} duplicates`);
  assert.equal(await count('SELECT count(*) AS n FROM webpush.history WHERE subscription_id = ANY($1) AND outcome = $2',
    [subs.map((s) => s.id), 'delivered']), n);
}

test('kill -9 of the worker mid-drain loses nothing', async () => {
  await drainThrough('kill-9', 2000, async () => {
    const { rows } = await db.query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'webpush worker'");
    assert.equal(rows.length, 1);
    process.kill(rows[0].pid, 'SIGKILL');
  });
});

test('an immediate shutdown mid-drain loses nothing', async () => {
  await drainThrough('immediate-stop', 2000, async () => {
    await db.end().catch(() => {});
    pgCtl('stop', '-m', 'immediate', '-w');
    startServer();
  });
});

test('the status views sum it up', async () => {
  const { rows } = await db.query('SELECT * FROM webpush.status');
  assert.equal(Number(rows[0].queued), 0);
  // Counted since the kill -9 above, which restarted the server as after
  // any crash (the counters start over, as PostgreSQL's statistics do):
  // at least the last drain, at most what the history holds.  The
  // failures before it are counted in 9-counters.test.js.
  const delivered = Number(rows[0].delivered);
  const { rows: [h] } = await db.query("SELECT count(*)::int AS n FROM webpush.history WHERE outcome = 'delivered'");
  assert.ok(delivered >= 2000 && delivered <= h.n, `${delivered} delivered counted, ${h.n} in the history`);
  const { rows: hosts } = await db.query('SELECT * FROM webpush.status_by_host ORDER BY host');
  const local = hosts.find((h) => h.host === 'localhost');
  assert.equal(Number(local.delivered), delivered, 'every delivery went to localhost');
  assert.equal(Number(local.queued), 0);
});

test('the push service saw no protocol violation', () => {
  assert.deepEqual(service.problems, []);
});
