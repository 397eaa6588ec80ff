'use strict';
// The test push service in a process of its own, for load tests: the
// driver that loads the database must not share a Node.js thread with it.
// Every request is verified and decrypted; deliveries are counted per
// payload, so that a payload that arrives twice is seen.  Driven over IPC.
const fs = require('node:fs');
const { PushService } = require('./push-service');

const service = new PushService();
const counts = new Map();       // payload -> deliveries answered 201
let sessionsNow = 0;
let sessionsMax = 0;
let sessionsOpened = 0;
const sessionErrors = [];

service.notify = () => {
  for (; service.seen < service.messages.length; service.seen++) {
    const m = service.messages[service.seen];
    if (m.status !== 201 || m.payload === null) continue;
    const key = m.payload.toString('utf8');
    counts.set(key, (counts.get(key) || 0) + 1);
  }
  // The records themselves are not needed again: keep memory flat.
  if (service.messages.length > 10000) {
    service.messages.splice(0, service.seen);
    service.seen = 0;
  }
};
service.seen = 0;

process.on('message', async (msg) => {
  switch (msg.cmd) {
    case 'start':
      await service.start({ key: fs.readFileSync(msg.key), cert: fs.readFileSync(msg.cert) });
      service.server.on('session', (s) => {
        sessionsOpened++;
        sessionsMax = Math.max(sessionsMax, ++sessionsNow);
        s.on('error', (e) => sessionErrors.push(e.code || e.message));
        s.on('close', () => { sessionsNow--; });
      });
      process.send({ port: service.port });
      break;
    case 'subscribe': {
      const subs = [];
      for (let i = 0; i < msg.n; i++) subs.push(service.subscribe());
      process.send({ subs });
      break;
    }
    case 'stats': {
      let delivered = 0;
      const twice = [];
      for (const [payload, n] of counts) {
        delivered += n;
        if (n > 1) twice.push(payload);
      }
      process.send({
        delivered, distinct: counts.size, twice: twice.slice(0, 10), duplicates: delivered - counts.size,
        problems: service.problems.length, firstProblem: service.problems[0] || null,
        sessionsMax, sessionsOpened, sessionErrors: sessionErrors.slice(0, 10),
      });
      break;
    }
    case 'stop':
      await service.stop();
      process.exit(0);
  }
});
