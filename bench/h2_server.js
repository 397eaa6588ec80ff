'use strict';
// An HTTP/2 TLS server for bench/h2_libcurl_vs_nghttp2.sh: answers every
// POST 201, counts each x-request-id it received, the sessions (connections)
// and what ended them.  Prints its port on stdout, then its figures as one
// JSON line on SIGTERM.
//
// node h2_server.js KEY CERT [maxConcurrentStreams]

const http2 = require('node:http2');
const fs = require('node:fs');

const [key, cert, maxStreams] = process.argv.slice(2);
const seen = new Map();
const stats = { sessions: 0, sessionErrors: {}, streamsReset: 0, requests: 0, maxStreamsPerSession: 0 };

const server = http2.createSecureServer({
  key: fs.readFileSync(key),
  cert: fs.readFileSync(cert),
  settings: maxStreams ? { maxConcurrentStreams: Number(maxStreams) } : {},
}, (req, res) => {
  const id = req.headers['x-request-id'];
  stats.requests++;
  seen.set(id, (seen.get(id) || 0) + 1);
  req.stream.session.webpushStreams++;
  req.resume();
  req.on('end', () => { res.writeHead(201); res.end(); });
});
server.on('session', (s) => {
  stats.sessions++;
  s.webpushStreams = 0;
  s.on('stream', (st) => st.on('close', () => { if (st.rstCode && st.rstCode !== 0) stats.streamsReset++; }));
  s.on('error', (e) => { stats.sessionErrors[e.code] = (stats.sessionErrors[e.code] || 0) + 1; });
  s.on('close', () => { stats.maxStreamsPerSession = Math.max(stats.maxStreamsPerSession, s.webpushStreams); });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => {
  let duplicated = 0;
  for (const n of seen.values()) if (n > 1) duplicated++;
  stats.distinct = seen.size;
  stats.duplicated = duplicated;
  console.log(JSON.stringify(stats));
  process.exit(0);
});
