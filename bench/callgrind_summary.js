'use strict';
// Reads callgrind_annotate --inclusive=yes output for each worker process
// and prints the workers' instructions per message, summed over them, split
// by what they were spent on.  Run by bench/run.sh with BENCH_MODE=callgrind.
//
//   node bench/callgrind_summary.js MESSAGES ANNOTATE_FILE...

const fs = require('node:fs');

const messages = Number(process.argv[2]);
const files = process.argv.slice(3);
const inclusive = {};
for (const file of files) {
  const seen = new Set();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+\S*?:([A-Za-z_][\w.]*)(?: |$)/.exec(line);
    // A function's first line is its inclusive count; later ones are calls.
    if (m && !seen.has(m[2])) {
      seen.add(m[2]);
      inclusive[m[2]] = (inclusive[m[2]] || 0) + Number(m[1].replace(/,/g, ''));
    }
  }
}
// The worker's main loop, inclusive: the process's own total is not usable
// (a forked child's profile starts with the postmaster's counters).
const total = inclusive.webpush_worker_main;
const per = (ir) => Math.round(ir / messages);
// Key agreements are made a claim at a time (p256_ephemeral_ecdh_batch,
// from ece_prepare), or one by one inside ece_encrypt when none was made.
const single = inclusive.p256_ephemeral_ecdh || 0;
const floor = single + (inclusive.p256_ephemeral_ecdh_batch || 0);
const parts = [
  ['keygen + ECDH (p256_ephemeral_ecdh[_batch])', null, () => floor],
  ['rest of the encryption (HKDF, AES-GCM, salt)', null, () => inclusive.ece_encrypt - single],
  ['request set-up (headers, JWT)', null, () => inclusive.push_build_request - inclusive.ece_encrypt],
  ['HTTP/2 (nghttp2), TLS, sockets, libcurl', null, () => (inclusive.http_client_start || 0) +
    (inclusive.h2_socket_ready || 0) + (inclusive.h2_tend || 0) + (inclusive.curl_multi_socket_action || 0)],
  ['SQL: claim', 'queue_claim'],
  ['SQL: record outcomes', 'queue_record_outcomes'],
  ['SQL: VAPID key load', 'store_load_keys'],
];
console.log(`\nworker instructions (callgrind), ${messages} messages, ${files.length} worker(s): ${per(total).toLocaleString('en')} per message`);
let known = 0;
for (const [label, fn, f] of parts) {
  const ir = f ? f() : (inclusive[fn] || 0);
  known += ir;
  console.log(`  ${label.padEnd(46)} ${per(ir).toLocaleString('en').padStart(10)}  ${(100 * ir / total).toFixed(1).padStart(5)}%`);
}
console.log(`  ${'everything else (loop, waits, transactions)'.padEnd(46)} ${per(total - known).toLocaleString('en').padStart(10)}  ${(100 * (total - known) / total).toFixed(1).padStart(5)}%`);
console.log(`  worker instructions / keygen+ECDH instructions   ${(total / floor).toFixed(2)}x`);
