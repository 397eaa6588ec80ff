'use strict';
// Throughput benchmark: the extension's worker against npm web-push, on one
// machine, to the same local HTTPS push service.  Prints numbers; asserts
// nothing.  Run through scripts/bench.sh.
//
//   BENCH_N            notifications per run (default 10000)
//   BENCH_MODE=million drain 1,000,000 and sample the worker's RSS
//   BENCH_MODE=valgrind the server under valgrind memcheck (no web-push run)
//   BENCH_MODE=worker  the worker's figures only (no web-push run): for tuning
//   BENCH_MODE=callgrind the server under callgrind: the worker's instructions
//                      per message, repeatable where seconds are not
//   BENCH_PERF=FILE    record a perf profile of the worker(s) (DWARF call
//                      graphs: Debian's libraries have no frame pointers)
//                      from COMMIT until the queue is empty; read it with
//                      perf report -i FILE

const { fork, execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const { Client } = require('../test/node_modules/pg');
const webpush = require('../test/node_modules/web-push');

const MODE = process.env.BENCH_MODE || 'compare';
const N = Number(process.env.BENCH_N || (MODE === 'callgrind' ? 3000 : 10000));
const tls = process.env.WEBPUSH_TEST_TLS;

const child = fork(path.join(__dirname, 'service.js'), { stdio: 'inherit' });
function ask(msg) {
  return new Promise((resolve) => { child.once('message', resolve); child.send(msg); });
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

async function waitCount(target, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await ask({ cmd: 'stats' });
    if (s.count >= target) return s;
    if (Date.now() > deadline) throw new Error(`only ${s.count} of ${target} arrived`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function main() {
  const { port } = await ask({ cmd: 'start', key: `${tls}/server.key`, cert: `${tls}/server.pem`, verifyEvery: 100 });
  const db = new Client({ host: process.env.PGHOST, port: Number(process.env.PGPORT), database: 'postgres' });
  await db.connect();
  await db.query('CREATE EXTENSION IF NOT EXISTS webpush');
  await db.query('SELECT webpush_keys()');
  if (process.env.BENCH_SQL) await db.query(process.env.BENCH_SQL);   // experiments

  const nsubs = MODE === 'million' ? 10000 : N;
  const { subs } = await ask({ cmd: 'subscribe', n: nsubs });
  for (let i = 0; i < subs.length; i += 5000) {
    await db.query('SELECT count(webpush_subscribe(s)) FROM jsonb_array_elements($1::jsonb) s',
      [JSON.stringify(subs.slice(i, i + 5000))]);
  }
  const { rows } = await db.query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'webpush worker'");
  const workers = rows.map((r) => r.pid);
  const worker = workers[0];
  const total = MODE === 'million' ? 1000000 : N;
  const per = total / nsubs;

  // Enqueue one call per row (a trigger's way), rolled back: only timed.
  let perRow = null;
  if (MODE !== 'million') {
    const r0 = Date.now();
    await db.query('BEGIN');
    await db.query("SELECT count(webpush_send(s.id, 'bench ' || s.id)) FROM webpush.subscriptions s");
    perRow = nsubs / ((Date.now() - r0) / 1000);
    await db.query('ROLLBACK');
  }

  const postmaster = Number(fs.readFileSync(`${process.env.PGDATA}/postmaster.pid`, 'utf8').split('\n')[0]);

  // The broadcast: webpush_send_many, one statement per payload.
  const cpu0 = workers.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const t0 = Date.now();
  await db.query('BEGIN');
  await db.query("SELECT sum((webpush_send_many((SELECT array_agg(id) FROM webpush.subscriptions), 'bench ' || i)).recipients) FROM generate_series(1, $1) i", [per]);
  const tQueued = Date.now();
  await db.query('COMMIT');
  const tCommit = Date.now();
  const perf = process.env.BENCH_PERF
    ? spawn('perf', ['record', '-q', '-F', '499', '--call-graph', 'dwarf,16384', '-o', process.env.BENCH_PERF, '-p', workers.join(',')], { stdio: 'inherit' })
    : null;
  const machine0 = machineCpu();
  const cluster0 = clusterCpu(postmaster);
  const service0 = cpuSeconds(child.pid);
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
  const stats = await waitCount(total, 3600 * 1000);
  clearInterval(rssTimer);
  // Where the two cores went between COMMIT and the last delivery.
  const machine1 = machineCpu();
  const saturation = {
    wall: (Date.now() - tCommit) / 1000,
    busy: machine1.busy - machine0.busy,
    total: machine1.total - machine0.total,
    workers: workers.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - cpu0,
    cluster: clusterCpu(postmaster) - cluster0,
    service: cpuSeconds(child.pid) - service0,
    driver: (() => { const u = process.cpuUsage(self0); return (u.user + u.system) / 1e6; })(),
  };
  for (;;) {   // outcomes recorded too, so the CPU figure includes them
    const { rows: q } = await db.query('SELECT count(*)::int AS n FROM webpush.deliveries');
    if (q[0].n === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const cpu1 = workers.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  if (perf) {
    perf.kill('SIGINT');
    await new Promise((r) => perf.once('exit', r));
  }
  const { arrivals } = await ask({ cmd: 'stats', arrivals: true });
  const lat = arrivals.map((a) => a - tCommit).sort((a, b) => a - b);
  const last = lat[lat.length - 1];
  const ours = {
    enqueue: total / ((tQueued - t0) / 1000),
    drain: total / (last / 1000),
    p50: pct(lat, 0.5),
    p99: pct(lat, 0.99),
    cpuPer1000: ((cpu1 - cpu0) / total) * 1000,
    peakRss: rssKb(worker, 'VmHWM'),
  };

  console.log(`\nwebpush, ${workers.length} worker(s): ${total} notifications to ${nsubs} subscriptions`);
  if (perRow) console.log(`  enqueue, webpush_send once per row            ${perRow.toFixed(0)} /s`);
  console.log(`  enqueue, webpush_send_many (one statement)    ${ours.enqueue.toFixed(0)} /s`);
  console.log(`  drain, commit to last delivery                ${ours.drain.toFixed(0)} /s (last delivery ${last} ms after COMMIT)`);
  console.log(`  commit-to-delivery latency                    p50 ${ours.p50} ms, p99 ${ours.p99} ms, max ${last} ms`);
  console.log(`  worker CPU (all workers)                      ${(ours.cpuPer1000).toFixed(3)} s per 1000 (${(ours.cpuPer1000 * 1000).toFixed(0)} us each)`);
  console.log(`  worker peak RSS (shared buffers included)     ${(ours.peakRss / 1024).toFixed(1)} MiB`);
  if (MODE === 'million') console.log(`  worker private memory (RssAnon) over drain  ${(rssMin / 1024).toFixed(1)} .. ${(rssMax / 1024).toFixed(1)} MiB`);
  console.log(`  checked with http_ece + jose                  ${stats.verified} sampled, ${stats.problems} problems${stats.firstProblem ? ': ' + stats.firstProblem : ''}`);
  {
    const s = saturation;
    const share = (x) => `${(100 * x / s.total).toFixed(0)}%`;
    const other = s.busy - s.cluster - s.service - s.driver;
    console.log(`  CPU during the drain (${s.wall.toFixed(1)} s, ${(s.total / s.wall).toFixed(1)} cores): busy ${share(s.busy)} of the machine =`);
    console.log(`    worker(s) ${share(s.workers)}, rest of PostgreSQL ${share(Math.max(0, s.cluster - s.workers))}, push service ${share(s.service)}, bench driver ${share(s.driver)}, other processes ${share(Math.max(0, other))}`);
  }

  if (MODE === 'compare') {
    await ask({ cmd: 'reset' });
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
    const s2 = await ask({ cmd: 'stats' });
    console.log(`\nnpm web-push ${require('../test/node_modules/web-push/package.json').version}, 64 concurrent sends: ${N} notifications`);
    console.log(`  rate                                          ${rate.toFixed(0)} /s (${s2.problems} problems)`);
    console.log(`\nratio (webpush drain / web-push)                ${(ours.drain / rate).toFixed(1)}x`);
  }
  try {
    const speed = execFileSync('openssl', ['speed', '-seconds', '2', 'ecdhp256'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const m = /256 bits ecdh \(nistp256\)\s+([\d.]+)s\s+([\d.]+)/.exec(speed);
    if (m) console.log(`openssl speed ecdhp256 (one core)              ${Number(m[2]).toFixed(0)} ECDH /s = ${(1e6 / Number(m[2])).toFixed(0)} us each`);
  } catch (e) { /* informational only */ }
  await db.end();
  await ask({ cmd: 'stop' }).catch(() => {});
}

main().catch((e) => { console.error(e); process.exit(1); });
