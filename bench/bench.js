'use strict';
// Throughput benchmark: the extension's worker against npm web-push, on one
// machine, to the same local HTTPS sink.  Prints numbers; asserts nothing.
// Run through scripts/bench.sh.
//
//   BENCH_SINK=nginx   (default for speed figures) nginx answering 201 to
//                      every POST under /push/ over HTTP/2 and TLS: far
//                      cheaper than either sender, and not this project's
//                      code; deliveries are counted in webpush.history
//   BENCH_SINK=node    the test push service (test/push-service.js), which
//                      decrypts and checks a sample of the messages with
//                      http_ece and jose (the default for valgrind and
//                      callgrind)
//   BENCH_N            notifications per drain (default 10000)
//   BENCH_DRAINS       drains of BENCH_N measured, each between two floor
//                      measurements; the median one's figures are printed
//                      in full, after a line for each (default 3; 1 under
//                      valgrind)
//   BENCH_WARMUP       drains of BENCH_N run first and printed, not
//                      counted (default 1; 0 under valgrind): a new
//                      cluster's first drain also creates its WAL files,
//                      the worker's plans and connections, and its memory
//   BENCH_MODE=million one webpush_send_many to 1,000,000 subscriptions and
//                      its drain to the nginx sink: the time to queue it, to
//                      the last delivery, the worker's memory, the queue's
//                      bytes per recipient, then the history's purge
//   BENCH_MODE=valgrind the server under valgrind memcheck (no web-push run)
//   BENCH_MODE=worker  the worker's figures only (no web-push run): for tuning
//   BENCH_MODE=callgrind the server under callgrind: the worker's instructions
//                      per message, repeatable where seconds are not
//   BENCH_PERF=FILE    record a perf profile of the worker(s) (DWARF call
//                      graphs: Debian's libraries have no frame pointers)
//                      from COMMIT until the queue is empty; read it with
//                      perf report -i FILE

const { fork, execFileSync, spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const net = require('node:net');
const path = require('node:path');
const { Client } = require('../test/node_modules/pg');
const webpush = require('../test/node_modules/web-push');

const MODE = process.env.BENCH_MODE || 'compare';
const N = Number(process.env.BENCH_N || (MODE === 'callgrind' ? 3000 : 10000));
// Drains measured (compare and worker modes); one under valgrind.
const DRAINS = Math.max(1, Number(process.env.BENCH_DRAINS || (['valgrind', 'callgrind'].includes(MODE) ? 1 : 3)));
const WARMUP = Math.max(0, Number(process.env.BENCH_WARMUP || (['valgrind', 'callgrind'].includes(MODE) ? 0 : 1)));
const SINK = process.env.BENCH_SINK || (['valgrind', 'callgrind'].includes(MODE) ? 'node' : 'nginx');
const NGINX = process.env.BENCH_NGINX || '/usr/sbin/nginx';
const tls = process.env.WEBPUSH_TEST_TLS;

// The verifying push service, in a process of its own, driven over IPC.
let child = null;
function ask(msg) {
  return new Promise((resolve) => { child.once('message', resolve); child.send(msg); });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// nginx in one process (no master), HTTP/2 over TLS with the test
// certificate, 201 for every POST under /push/, no log per request, and no
// limit on the requests of a connection (nginx would otherwise close it
// with a GOAWAY after 1,000).
async function startNginx() {
  const dir = path.join(process.env.PGHOST, 'nginx');
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000000;
  keepalive_timeout 600s;
  http2_max_concurrent_streams 1000;
  client_body_buffer_size 16k;
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${tls}/server.pem;
    ssl_certificate_key ${tls}/server.key;
    location /push/ { return 201; }
  }
}
`);
  const proc = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')],
    { stdio: 'inherit' });
  for (let i = 0; ; i++) {
    const up = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100 || proc.exitCode !== null) throw new Error(`nginx did not start (see ${dir}/error.log)`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, port };
}

// A sink's side of the run: subscriptions pointing at it, its process (for
// its CPU time), how many deliveries it has seen, and the arrival times.
async function startSink(db) {
  if (SINK === 'node') {
    child = fork(path.join(__dirname, 'service.js'), { stdio: 'inherit' });
    await ask({ cmd: 'start', key: `${tls}/server.key`, cert: `${tls}/server.pem`, verifyEvery: 100 });
    return {
      pid: child.pid,
      subscribe: async (n) => (await ask({ cmd: 'subscribe', n })).subs,
      delivered: async () => (await ask({ cmd: 'stats' })).count,
      stats: () => ask({ cmd: 'stats' }),
      arrivals: async () => (await ask({ cmd: 'stats', arrivals: true })).arrivals,
      reset: () => ask({ cmd: 'reset' }),
      stop: () => ask({ cmd: 'stop' }).catch(() => {}),
    };
  }
  const { proc, port } = await startNginx();
  // Recorded deliveries, as the worker wrote them to the history.
  const delivered = async () => Number((await db.query(
    "SELECT count(*) AS n FROM webpush.history WHERE outcome = 'delivered'")).rows[0].n);
  return {
    pid: proc.pid,
    subscribe: async (n) => Array.from({ length: n }, (_, i) => {
      const ecdh = crypto.createECDH('prime256v1');
      ecdh.generateKeys();
      return {
        endpoint: `https://localhost:${port}/push/${i}`,
        keys: { p256dh: ecdh.getPublicKey('base64url'), auth: crypto.randomBytes(16).toString('base64url') },
      };
    }),
    delivered,
    stats: async () => {
      const { rows: [h] } = await db.query(`SELECT count(*) FILTER (WHERE outcome = 'delivered') AS delivered,
        count(*) FILTER (WHERE outcome <> 'delivered') AS other,
        (SELECT reason FROM webpush.history WHERE outcome <> 'delivered' LIMIT 1) AS reason FROM webpush.history`);
      return { count: Number(h.delivered), verified: 0, problems: Number(h.other), firstProblem: h.reason };
    },
    // When each delivery was recorded (the worker's transaction), in this
    // process's clock.
    arrivals: async () => (await db.query(
      "SELECT (extract(epoch FROM finished_at) * 1000)::float8 AS t FROM webpush.history WHERE outcome = 'delivered'"))
      .rows.map((r) => r.t),
    reset: async () => {},
    stop: async () => { proc.kill('SIGQUIT'); },
  };
}

function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;   // utime + stime, in clock ticks
}
function rssKb(pid, field = 'VmRSS') {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}
// Busy and total CPU time of the whole machine, from /proc/stat, in seconds.
function machineCpu() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / 100, total: total / 100 };
}
// CPU seconds of every process of the throwaway cluster (its postmaster's children).
function clusterCpu(postmaster) {
  let sum = cpuSeconds(postmaster);
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      if (Number(stat[1]) === postmaster) sum += cpuSeconds(pid);
    } catch (e) { /* gone */ }
  }
  return sum;
}
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function waitCount(sink, target, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await sink.delivered();
    if (n >= target) return sink.stats();
    if (Date.now() > deadline) throw new Error(`only ${n} of ${target} arrived`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The crypto floor of this run (bench/crypto_bound.c, built by run.sh), in
// CPU time; with processes > 0, that many floors at once, each on a core
// of its own if there are enough.
function cryptoFloor(onlyFloor = false, processes = 0) {
  if (!process.env.BENCH_CRYPTO_BOUND) return null;
  const out = execFileSync(process.env.BENCH_CRYPTO_BOUND, processes ? ['--floor', String(processes)] : []).toString();
  process.stdout.write(out.split('\n')
    .filter((l) => !l.startsWith('floor_us') && (!onlyFloor || l.startsWith('floor:')))
    .map((l) => `${l}\n`).join(''));
  return Number(/^floor_us ([\d.]+)/m.exec(out)[1]);
}

// A million recipients: the subscriptions are rows inserted directly (one
// key pair for all of them: the sink does not decrypt), then one
// webpush_send_many to all, drained to the nginx sink.
async function million(db, sink, floorBefore) {
  const M = Number(process.env.BENCH_RECIPIENTS || 1000000);
  const [one] = await sink.subscribe(1);
  const base = one.endpoint.replace(/\/push\/.*$/, '/push/');
  let t = Date.now();
  await db.query(`INSERT INTO webpush.subscriptions (endpoint, p256dh, auth, application, key_id)
    SELECT $1 || i, decode(translate($2, '-_', '+/') || '=', 'base64'),
           decode(translate($3, '-_', '+/') || '==', 'base64'), 'default',
           (SELECT id FROM webpush.vapid_keys WHERE application = 'default' AND current)
    FROM generate_series(1, $4) i`, [base, one.keys.p256dh, one.keys.auth, M]);
  await db.query('VACUUM ANALYZE webpush.subscriptions');
  console.log(`\n${M} subscriptions stored in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const { rows } = await db.query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'webpush worker'");
  const workers = rows.map((r) => r.pid);
  const size = async () => Number((await db.query(`SELECT pg_total_relation_size('webpush.messages')
    + pg_total_relation_size('webpush.deliveries') AS n`)).rows[0].n);
  const cpu0 = workers.reduce((sum, pid) => sum + cpuSeconds(pid), 0);

  t = Date.now();
  const dbStart = Number((await db.query('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS t')).rows[0].t);
  const { rows: [sent] } = await db.query(
    "SELECT recipients FROM webpush_send_many((SELECT array_agg(id) FROM webpush.subscriptions), 'a million')");
  const queuedMs = Date.now() - t;
  const bytesQueued = await size();
  let bytesMax = bytesQueued;
  let rssMax = 0;
  let delivered = 0;
  const samples = [];
  const t1 = Date.now();
  while (delivered < M) {
    await new Promise((r) => setTimeout(r, 1000));
    delivered = await sink.delivered();
    const bytes = await size();
    bytesMax = Math.max(bytesMax, bytes);
    const rss = workers.reduce((sum, pid) => sum + rssKb(pid, 'RssAnon'), 0);
    rssMax = Math.max(rssMax, rss);
    samples.push({ s: (Date.now() - t1) / 1000, delivered, bytes, rss });
    if (Date.now() - t1 > 3600 * 1000) throw new Error(`only ${delivered} of ${M} delivered`);
  }
  const { rows: [h] } = await db.query(`SELECT (extract(epoch FROM max(finished_at)) * 1000)::float8 AS last,
    count(*) FILTER (WHERE outcome <> 'delivered') AS other FROM webpush.history`);
  for (;;) {   // the last outcomes recorded, so the CPU figure includes them
    const { rows: q } = await db.query('SELECT count(*)::int AS n FROM webpush.deliveries');
    if (q[0].n === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const cpu = workers.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - cpu0;
  const lastMs = h.last - dbStart;
  console.log(`\nwebpush_send_many to ${Number(sent.recipients)} subscriptions, drained to the sink`);
  console.log(`  queued in                                     ${queuedMs} ms (${(M / queuedMs * 1000).toFixed(0)} /s)`);
  console.log(`  from the statement to the last delivery       ${(lastMs / 1000).toFixed(1)} s (${(M / lastMs * 1000).toFixed(0)} /s); ${h.other} not delivered`);
  console.log(`  worker CPU                                    ${(cpu / M * 1e6).toFixed(0)} us a message`);
  console.log(`  worker private memory (RssAnon), peak         ${(rssMax / 1024).toFixed(1)} MiB`);
  console.log(`  queue bytes per recipient (messages + deliveries): queued ${(bytesQueued / M).toFixed(1)}, peak during the drain ${(bytesMax / M).toFixed(1)}`);
  for (const x of samples.filter((_, i) => i % 10 === 0)) {
    console.log(`    ${x.s.toFixed(0).padStart(4)} s: ${String(x.delivered).padStart(8)} delivered, queue ${(x.bytes / M).toFixed(1)} bytes a recipient, worker ${(x.rss / 1024).toFixed(1)} MiB`);
  }

  // The history's purge: a retention of one second, applied at once by a
  // reload once every row is older than that; the worker purges in batches
  // until none is left.
  for (;;) {
    const { rows: [r] } = await db.query(
      "SELECT max(finished_at) < clock_timestamp() - interval '1.5 seconds' AS old FROM webpush.history");
    if (r.old) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const { rows: [before] } = await db.query('SELECT count(*)::int AS n FROM webpush.history');
  await db.query("ALTER SYSTEM SET webpush.history_retention = '1s'");
  await db.query('SELECT pg_reload_conf()');
  t = Date.now();
  for (;;) {
    const { rows: [left] } = await db.query('SELECT count(*)::int AS n FROM webpush.history');
    if (left.n === 0) break;
    if (Date.now() - t > 1800 * 1000) throw new Error(`the purge left ${left.n} of ${before.n}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const purgeMs = Date.now() - t;
  console.log(`  history purge of ${before.n} rows                ${(purgeMs / 1000).toFixed(1)} s (${(before.n / purgeMs * 1000).toFixed(0)} rows /s)`);
  await db.query('ALTER SYSTEM RESET webpush.history_retention');
  await db.query('SELECT pg_reload_conf()');
  const floorAfter = cryptoFloor(true);
  if (floorBefore && floorAfter) {
    const floor = (floorBefore + floorAfter) / 2;
    console.log(`  worker CPU / crypto floor of this run         ${(cpu / M * 1e6 / floor).toFixed(2)}x (floor ${floor.toFixed(1)} us)`);
  }
}

async function main() {
  const db = new Client({ host: process.env.PGHOST, port: Number(process.env.PGPORT), database: 'postgres' });
  await db.connect();
  await db.query('CREATE EXTENSION IF NOT EXISTS webpush');
  await db.query('SELECT webpush_keys()');
  if (process.env.BENCH_SQL) await db.query(process.env.BENCH_SQL);   // experiments
  const sink = await startSink(db);
  console.log(`sink: ${SINK === 'nginx' ? `nginx ${spawnSync(NGINX, ['-v']).stderr.toString().split('/')[1].trim()}, HTTP/2 over TLS, 201 for every request` : 'the test push service (Node.js), a sample decrypted and checked'}`);
  const floorBefore = cryptoFloor();
  if (MODE === 'million') {
    await million(db, sink, floorBefore);
    await db.end();
    await sink.stop();
    return;
  }

  const nsubs = N;
  const subs = await sink.subscribe(nsubs);
  for (let i = 0; i < subs.length; i += 5000) {
    await db.query('SELECT count(webpush_subscribe(s)) FROM jsonb_array_elements($1::jsonb) s',
      [JSON.stringify(subs.slice(i, i + 5000))]);
  }
  const { rows } = await db.query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'webpush worker'");
  const workers = rows.map((r) => r.pid);
  const worker = workers[0];
  const total = N;
  const per = total / nsubs;

  // Enqueue one call per row (a trigger's way), rolled back: only timed.
  let perRow = null;
  {
    const r0 = Date.now();
    await db.query('BEGIN');
    await db.query("SELECT count(webpush_send(s.id, 'bench ' || s.id)) FROM webpush.subscriptions s");
    perRow = nsubs / ((Date.now() - r0) / 1000);
    await db.query('ROLLBACK');
  }

  const postmaster = Number(fs.readFileSync(`${process.env.PGDATA}/postmaster.pid`, 'utf8').split('\n')[0]);

  // One drain: the broadcast (webpush_send_many, one statement per
  // payload), committed, until every outcome is recorded.  The first
  // records the perf profile when one is asked for.
  const drain = async (first) => {
    const cpu0 = workers.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const t0 = Date.now();
    const dbStart = Number((await db.query('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS t')).rows[0].t);
    await db.query('BEGIN');
    await db.query("SELECT sum((webpush_send_many((SELECT array_agg(id) FROM webpush.subscriptions), 'bench ' || i)).recipients) FROM generate_series(1, $1) i", [per]);
    const tQueued = Date.now();
    await db.query('COMMIT');
    const tCommit = Date.now();
    // WAL from here to the last outcome recorded: the worker's claims and
    // records (and the little the driver's polling adds).
    const wal0 = (await db.query('SELECT pg_current_wal_insert_lsn() AS l')).rows[0].l;
    const perf = process.env.BENCH_PERF
      && first ? spawn('perf', ['record', '-q', '-F', '499', '--call-graph', 'dwarf,16384', '-o', process.env.BENCH_PERF, '-p', workers.join(',')], { stdio: 'inherit' })
      : null;
    const machine0 = machineCpu();
    const cluster0 = clusterCpu(postmaster);
    const service0 = cpuSeconds(sink.pid);
    const self0 = process.cpuUsage();

    let rssMax = 0;
    let rssMin = Infinity;
    // RssAnon: the worker's private memory.  VmRSS also counts the shared
    // buffers it touches, which grow with the queue, not with a leak.
    const rssTimer = setInterval(() => {
      const r = rssKb(worker, 'RssAnon');
      rssMax = Math.max(rssMax, r);
      rssMin = Math.min(rssMin, r);
    }, 1000);
    const stats = await waitCount(sink, total, 3600 * 1000);
    clearInterval(rssTimer);
    {
      const r = rssKb(worker, 'RssAnon');
      rssMax = Math.max(rssMax, r);
      rssMin = Math.min(rssMin, r);
    }
    // Where the two cores went between COMMIT and the last delivery.
    const machine1 = machineCpu();
    const saturation = {
      wall: (Date.now() - tCommit) / 1000,
      busy: machine1.busy - machine0.busy,
      total: machine1.total - machine0.total,
      workers: workers.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - cpu0,
      cluster: clusterCpu(postmaster) - cluster0,
      service: cpuSeconds(sink.pid) - service0,
      driver: (() => { const u = process.cpuUsage(self0); return (u.user + u.system) / 1e6; })(),
    };
    for (;;) {   // outcomes recorded too, so the CPU figure includes them
      const { rows: q } = await db.query('SELECT count(*)::int AS n FROM webpush.deliveries');
      if (q[0].n === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const cpu1 = workers.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const walBytes = Number((await db.query('SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1) AS b', [wal0])).rows[0].b);
    if (perf) {
      perf.kill('SIGINT');
      await new Promise((r) => perf.once('exit', r));
    }
    const arrivals = await sink.arrivals();
    // The nginx sink's times are the database's: the history's finished_at.
    const dbCommit = dbStart + (tCommit - t0);
    const lat = arrivals.map((a) => a - (SINK === 'nginx' ? dbCommit : tCommit)).sort((a, b) => a - b);
    const last = lat[lat.length - 1];
    const fromStatement = last + (tCommit - t0);
    const ours = {
      enqueue: total / ((tQueued - t0) / 1000),
      drain: total / (last / 1000),
      fromStatement: total / (fromStatement / 1000),
      p50: Math.round(pct(lat, 0.5)),
      p99: Math.round(pct(lat, 0.99)),
      cpuPer1000: ((cpu1 - cpu0) / total) * 1000,
      peakRss: rssKb(worker, 'VmHWM'),
    };
    return { ours, walBytes, rssMin, rssMax, stats, saturation, fromStatement, last };
  };

  // The drains, each between two measurements of the floor: the host's
  // speed drifts, and a short drain can meet a slow spell the floor's
  // batches do not, so each drain is compared with the floor around it,
  // and the figures below are the median drain's (by worker CPU / floor),
  // all of them printed first.
  const drains = [];
  let floorPrev = floorBefore;
  for (let d = -WARMUP; d < DRAINS; d++) {
    if (d > -WARMUP) {
      // Each drain as the first: nothing delivered yet, the history empty.
      await sink.reset();
      await db.query('TRUNCATE webpush.history');
    }
    const r = await drain(d === 0);
    const floorAfter = cryptoFloor(true);
    r.floorBefore = floorPrev;
    r.floorAfter = floorAfter;
    r.floor = floorPrev && floorAfter ? (floorPrev + floorAfter) / 2 : null;
    r.ratio = r.floor ? (r.ours.cpuPer1000 * 1000) / r.floor : null;
    floorPrev = floorAfter;
    if (d >= 0) drains.push(r);
    console.log(`${d < 0 ? `warm-up drain ${d + WARMUP + 1} of ${WARMUP}, not counted` : `drain ${d + 1} of ${DRAINS}`}: ${r.ours.fromStatement.toFixed(0)} /s from the statement, worker ${(r.ours.cpuPer1000 * 1000).toFixed(0)} us a message`
      + (r.ratio ? `, floor ${r.floor.toFixed(1)} us: ${r.ratio.toFixed(2)}x` : ''));
  }
  // N workers busy N cores: each core then runs slower than one alone
  // (shared caches and memory, the host's clock), so the floor is also
  // measured N at once, to compare N workers with.
  let floorTogether = null;
  if (workers.length > 1) {
    const a = cryptoFloor(true, workers.length);
    const b = cryptoFloor(true, workers.length);
    floorTogether = a && b ? (a + b) / 2 : null;
  }
  const byRatio = [...drains].sort((a, b) => (a.ratio ?? a.ours.cpuPer1000) - (b.ratio ?? b.ours.cpuPer1000));
  const median = byRatio[Math.floor((byRatio.length - 1) / 2)];
  const { ours, walBytes, rssMin, rssMax, stats, saturation, fromStatement, last } = median;
  const floorAfter = median.floorAfter;
  const floorBeforeMedian = median.floorBefore;

  console.log(`\nwebpush, ${workers.length} worker(s): ${total} notifications to ${nsubs} subscriptions`
    + (DRAINS > 1 ? `, the median of ${DRAINS} drains (drain ${drains.indexOf(median) + 1})` : ''));
  if (perRow) console.log(`  enqueue, webpush_send once per row            ${perRow.toFixed(0)} /s`);
  console.log(`  enqueue, webpush_send_many (one statement)    ${ours.enqueue.toFixed(0)} /s`);
  console.log(`  from the sending statement to the last delivery ${ours.fromStatement.toFixed(0)} /s (${fromStatement.toFixed(0)} ms)`);
  console.log(`  drain, commit to last delivery                ${ours.drain.toFixed(0)} /s (last delivery ${last.toFixed(0)} ms after COMMIT)`);
  console.log(`  commit-to-delivery latency                    p50 ${ours.p50} ms, p99 ${ours.p99} ms, max ${last} ms`);
  console.log(`  worker CPU (all workers)                      ${(ours.cpuPer1000).toFixed(3)} s per 1000 (${(ours.cpuPer1000 * 1000).toFixed(0)} us each)`);
  if (floorBeforeMedian && floorAfter) {
    const floor = (floorBeforeMedian + floorAfter) / 2;
    console.log(`  crypto floor of this run (before, after)      ${floor.toFixed(1)} us (${floorBeforeMedian.toFixed(1)}, ${floorAfter.toFixed(1)})`);
    console.log(`  worker CPU / floor                            ${(ours.cpuPer1000 * 1000 / floor).toFixed(2)}x`);
  }
  if (floorTogether) {
    console.log(`  crypto floor, ${workers.length} processes at once               ${floorTogether.toFixed(1)} us`);
    console.log(`  worker CPU / that floor                       ${(ours.cpuPer1000 * 1000 / floorTogether).toFixed(2)}x`);
  }
  console.log(`  WAL from COMMIT to the last outcome recorded   ${(walBytes / total).toFixed(0)} bytes a message`);
  console.log(`  worker peak RSS (shared buffers included)     ${(ours.peakRss / 1024).toFixed(1)} MiB`);
  console.log(`  worker private memory (RssAnon) over drain    ${(rssMin / 1024).toFixed(1)} .. ${(rssMax / 1024).toFixed(1)} MiB`);
  if (SINK === 'node') console.log(`  checked with http_ece + jose                  ${stats.verified} sampled, ${stats.problems} problems${stats.firstProblem ? ': ' + stats.firstProblem : ''}`);
  else console.log(`  recorded in webpush.history                   ${stats.count} delivered, ${stats.problems} not${stats.firstProblem ? ': ' + stats.firstProblem : ''}`);
  {
    const s = saturation;
    const share = (x) => `${(100 * x / s.total).toFixed(0)}%`;
    const other = s.busy - s.cluster - s.service - s.driver;
    console.log(`  CPU during the drain (${s.wall.toFixed(1)} s, ${(s.total / s.wall).toFixed(1)} cores): busy ${share(s.busy)} of the machine =`);
    console.log(`    worker(s) ${share(s.workers)}, rest of PostgreSQL ${share(Math.max(0, s.cluster - s.workers))}, ${SINK === 'nginx' ? 'nginx' : 'push service'} ${share(s.service)}, bench driver ${share(s.driver)}, other processes ${share(Math.max(0, other))}`);
  }

  if (MODE === 'compare') {
    await sink.reset();
    // The extension's own key: the push service binds each subscription to
    // the first key that signs for it, as FCM does.
    const { rows: [keys] } = await db.query(
      'SELECT public_key AS "publicKey", private_key AS "privateKey" FROM webpush_keys_export() WHERE current');
    const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca: fs.readFileSync(`${tls}/ca.pem`) });
    const options = {
      vapidDetails: { subject: 'mailto:bench@example.com', publicKey: keys.publicKey, privateKey: keys.privateKey },
      contentEncoding: 'aes128gcm', agent,
    };
    let next = 0;
    const w0 = Date.now();
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < N) {
        const i = next++;
        await webpush.sendNotification(subs[i], `bench ${i}`, options);
      }
    }));
    const rate = N / ((Date.now() - w0) / 1000);
    const problems = SINK === 'node' ? (await sink.stats()).problems : 0;
    console.log(`\nnpm web-push ${require('../test/node_modules/web-push/package.json').version}, 64 concurrent sends: ${N} notifications, each answered 201`);
    console.log(`  rate                                          ${rate.toFixed(0)} /s (${problems} problems)`);
    console.log(`\nratio, from the sending statement to the last delivery / web-push   ${(ours.fromStatement / rate).toFixed(1)}x`);
    console.log(`ratio, from COMMIT to the last delivery / web-push                  ${(ours.drain / rate).toFixed(1)}x`);
  }
  try {
    const speed = execFileSync('openssl', ['speed', '-seconds', '2', 'ecdhp256'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const m = /256 bits ecdh \(nistp256\)\s+([\d.]+)s\s+([\d.]+)/.exec(speed);
    if (m) console.log(`openssl speed ecdhp256 (one core)              ${Number(m[2]).toFixed(0)} ECDH /s = ${(1e6 / Number(m[2])).toFixed(0)} us each`);
  } catch (e) { /* informational only */ }
  await db.end();
  await sink.stop();
}

main().catch((e) => { console.error(e); process.exit(1); });
