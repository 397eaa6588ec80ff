'use strict';
// The push service of bench/trigger.sh's run with the worker draining:
//   node bench/trigger_service.js N FILE KEY CERT
// writes N subscriptions to FILE (one JSON object a line), then counts the
// requests it receives (checking one in a thousand) until SIGTERM, when it
// prints that count.
const fs = require('node:fs');
const { PushService } = require('../test/push-service');

(async () => {
  const [n, file, key, cert] = process.argv.slice(2);
  const service = new PushService();
  service.verifyEvery = 1000;
  await service.start({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) });
  const subs = Array.from({ length: Number(n) }, () => service.subscribe());
  fs.writeFileSync(`${file}.tmp`, subs.map((s) => JSON.stringify(s)).join('\n') + '\n');
  fs.renameSync(`${file}.tmp`, file);
  process.on('SIGTERM', async () => {
    console.log(`${service.arrivals.length} ${service.problems.length}`);
    await service.stop();
    process.exit(0);
  });
})();
