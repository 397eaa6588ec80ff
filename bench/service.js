'use strict';
// The benchmark's push service, in its own process so that the sender being
// measured (the extension, or npm web-push in the driver) does not share a
// Node.js thread with it.  Driven by the parent over IPC.
const fs = require('node:fs');
const { PushService } = require('../test/push-service');

const service = new PushService();

process.on('message', async (msg) => {
  switch (msg.cmd) {
    case 'start':
      service.verifyEvery = msg.verifyEvery;
      await service.start({ key: fs.readFileSync(msg.key), cert: fs.readFileSync(msg.cert) });
      process.send({ port: service.port });
      break;
    case 'subscribe': {
      const subs = [];
      for (let i = 0; i < msg.n; i++) subs.push(service.subscribe());
      process.send({ subs });
      break;
    }
    case 'stats':
      process.send({
        count: service.arrivals.length,
        verified: service.messages.length,
        problems: service.problems.length,
        firstProblem: service.problems[0] || null,
        arrivals: msg.arrivals ? service.arrivals : undefined,
      });
      break;
    case 'reset':
      service.arrivals = [];
      service.messages = [];
      process.send({ ok: true });
      break;
    case 'stop':
      await service.stop();
      process.exit(0);
  }
});
