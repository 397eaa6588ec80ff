'use strict';
// Scheduled sends: COUNT messages whose send_at falls on the seconds of the
// next SECONDS seconds (COUNT / SECONDS each second), queued at once;
// prints how late each arrived after its send_at, and the worker's CPU time
// over the run (it should sleep between the seconds, not poll).
const fs = require('node:fs');
const path = require('node:path');
const { Client } = require(path.join(__dirname, '..', 'test', 'node_modules', 'pg'));
const { PushService } = require('../test/push-service');

const [count, seconds] = process.argv.slice(2).map(Number);
const tls = process.env.WEBPUSH_TEST_TLS;

function cpuTicks(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);   // utime + stime
}

(async () => {
  const service = new PushService();
  // No decryption here (the service must keep up): each message's index
  // travels in its Topic header.
  service.check = async (sub, req, body, record) => { record.payload = Buffer.from(req.headers.topic.slice(1)); };
  await service.start({ key: fs.readFileSync(path.join(tls, 'server.key')), cert: fs.readFileSync(path.join(tls, 'server.pem')) });
  const db = new Client({ host: process.env.PGHOST, port: Number(process.env.PGPORT), database: 'postgres' });
  await db.connect();
  await db.query('CREATE EXTENSION IF NOT EXISTS webpush');
  const sub = service.subscribe();
  const { rows: [{ id }] } = await db.query('SELECT webpush_subscribe($1) AS id', [sub]);
  // The worker starts after CREATE EXTENSION commits.
  let pid;
  for (let tries = 0; pid === undefined; tries++) {
    if (tries === 500) throw new Error('no webpush worker for "postgres" after 10 s');
    pid = (await db.query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'webpush worker' AND datname = 'postgres'")).rows[0]?.pid;
    if (pid === undefined) await new Promise((r) => setTimeout(r, 20));
  }
  // After the INSERT has committed (about 5,000 rows a second here).
  const start = Date.now() + 2000 + count / 2;
  const at = (i) => start + (i % seconds) * 1000;
  await db.query(`SELECT webpush_send($1::bigint, i::text, topic => 'm' || i,
                                      send_at => to_timestamp(($2::bigint + (i % $3::int) * 1000) / 1000.0))
                  FROM generate_series(0, $4 - 1) i`, [id, start, seconds, count]);
  const ticks0 = cpuTicks(pid);
  const deadline = start + seconds * 1000 + 10000;
  while (service.received(sub.endpoint).length < count && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const ticks = cpuTicks(pid) - ticks0;
  const late = service.received(sub.endpoint).map((m) => m.receivedAt - at(Number(m.payload.toString())))
    .sort((a, b) => a - b);
  const q = (p) => late[Math.min(late.length - 1, Math.floor(p * late.length))];
  console.log(`scheduled: ${late.length}/${count} messages, ${Math.round(count / seconds)} due at each second for ${seconds} s; ` +
    `arrival after send_at p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${late[late.length - 1]} ms, earliest ${late[0]} ms`);
  const slow = late.filter((ms) => ms > 500).length;
  if (slow > 0) console.log(`${slow} arrived more than 500 ms late`);
  console.log(`worker CPU over the run: ${(ticks * 10).toFixed(0)} ms (${((ticks * 10) / count).toFixed(2)} ms per message)`);
  await db.end();
  await service.stop();
})().catch((e) => { console.error(e); process.exit(1); });
