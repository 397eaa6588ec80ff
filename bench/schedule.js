'use strict';
// Scheduled sends: COUNT messages, one SPACING_MS apart, queued at once with
// send_at; prints how late each arrived after its send_at, and the worker's
// CPU time over the run (it should sleep between them, not poll).
const fs = require('node:fs');
const path = require('node:path');
const { Client } = require(path.join(__dirname, '..', 'test', 'node_modules', 'pg'));
const { PushService } = require('../test/push-service');

const [count, spacing] = process.argv.slice(2).map(Number);
const tls = process.env.WEBPUSH_TEST_TLS;

function cpuTicks(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);   // utime + stime
}

(async () => {
  const service = new PushService();
  service.verifyEvery = 1;
  await service.start({ key: fs.readFileSync(path.join(tls, 'server.key')), cert: fs.readFileSync(path.join(tls, 'server.pem')) });
  const db = new Client({ host: process.env.PGHOST, port: Number(process.env.PGPORT), database: 'postgres' });
  await db.connect();
  await db.query('CREATE EXTENSION IF NOT EXISTS webpush');
  const sub = service.subscribe();
  const { rows: [{ id }] } = await db.query('SELECT webpush_subscribe($1) AS id', [sub]);
  const pid = (await db.query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'webpush worker' AND datname = 'postgres'")).rows[0].pid;
  const start = Date.now() + 2000;
  await db.query(`SELECT webpush_send($1::bigint, i::text, send_at => to_timestamp(($2::bigint + i * $3::int) / 1000.0))
                  FROM generate_series(0, $4 - 1) i`, [id, start, spacing, count]);
  const ticks0 = cpuTicks(pid);
  const deadline = start + count * spacing + 10000;
  while (service.received(sub.endpoint).length < count && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const ticks = cpuTicks(pid) - ticks0;
  const late = service.received(sub.endpoint).map((m) => m.receivedAt - (start + Number(m.payload.toString()) * spacing))
    .sort((a, b) => a - b);
  const q = (p) => late[Math.min(late.length - 1, Math.floor(p * late.length))];
  const seconds = (count * spacing) / 1000;
  console.log(`scheduled: ${late.length}/${count} messages ${spacing} ms apart over ${seconds.toFixed(0)} s; ` +
    `arrival after send_at p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${late[late.length - 1]} ms, earliest ${late[0]} ms`);
  console.log(`worker CPU over the run: ${(ticks * 10).toFixed(0)} ms (${((ticks * 10) / count).toFixed(2)} ms per message)`);
  await db.end();
  await service.stop();
})().catch((e) => { console.error(e); process.exit(1); });
