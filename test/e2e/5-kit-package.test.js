'use strict';
// The browser kit as an npm package: its generated files are up to date,
// `npm pack` gives a tarball that installs into a fresh project whose
// TypeScript compiles against the kit's types (tsc --noEmit), and the
// classic builds run as classic scripts.  The service worker's payload
// reading (Declarative Web Push, the older convention, fallbacks) is
// checked here without a browser; 5-browser drives it in Chromium.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');

const CLIENT = path.join(__dirname, '..', '..', 'client');
const TSC = path.join(__dirname, '..', 'node_modules', 'typescript', 'bin', 'tsc');

let work;
before(() => { work = fs.mkdtempSync(path.join(os.tmpdir(), 'webpush-kit-')); });
after(() => { if (work) fs.rmSync(work, { recursive: true, force: true }); });

test('the classic builds and sw.js are what build.mjs makes from the modules', () => {
  const run = spawnSync(process.execPath, [path.join(CLIENT, 'build.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
});

test('npm pack installs into a fresh project, and its types compile with tsc --noEmit', () => {
  // npm writes its cache under HOME; a throwaway one keeps this test to itself.
  const env = { ...process.env, npm_config_cache: path.join(work, 'npm-cache'), npm_config_update_notifier: 'false' };
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: CLIENT, env, encoding: 'utf8' }));
  const files = packed[0].files.map((f) => f.path).sort();
  for (const f of ['package.json', 'webpush-client.js', 'webpush-client.d.ts', 'webpush-sw.js', 'webpush-sw.d.ts', 'sw.js',
    'dist/webpush-client.classic.js', 'dist/webpush-sw.classic.js']) {
    assert.ok(files.includes(f), `${f} is in the tarball (${files.join(', ')})`);
  }
  const project = path.join(work, 'app');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', path.join(work, packed[0].filename)],
    { cwd: project, env, stdio: 'pipe' });
  fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext',
      lib: ['es2022', 'dom'], skipLibCheck: false },
    files: ['page.ts', 'worker.ts'],
  }));
  fs.writeFileSync(path.join(project, 'page.ts'), `
import { subscribe, WebPushError, ErrorCode, type SubscribeOptions } from '@webpush-pg/client';
const options: SubscribeOptions = { receiptUrl: '/api/receipts', headers: { 'x-csrf': 't' } };
export async function enable(): Promise<string> {
  try {
    const s: PushSubscription = await subscribe(options);
    return s.endpoint;
  } catch (e) {
    if (e instanceof WebPushError && e.code === ErrorCode.PERMISSION_DENIED) return e.code;
    throw e;
  }
}
`);
  fs.writeFileSync(path.join(project, 'worker.ts'), `
import { installWebPush, notificationFor, type DeclarativePayload, type Receipt } from '@webpush-pg/client/sw';
installWebPush({ receiptUrl: '/api/receipts' });
const payload: DeclarativePayload = { web_push: 8030, notification: { title: 'Hi', navigate: 'https://example.com/' }, app_badge: 1 };
export const shown: string = notificationFor(payload).title;
export const receipt: Receipt = { message: 1, subscription: 2, event: 'clicked', action: 'reply', at: Date.now() };
`);
  const tsc = (cwd) => spawnSync(process.execPath, [TSC, '-p', cwd], { encoding: 'utf8' });
  const ok = tsc(project);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);

  // The check can fail: a payload WebKit would ignore (web_push a string)
  // and an unknown receipt event are type errors.
  fs.writeFileSync(path.join(project, 'worker.ts'), `
import { type DeclarativePayload, type Receipt } from '@webpush-pg/client/sw';
export const bad: DeclarativePayload = { web_push: '8030', notification: { title: 'Hi', navigate: 'https://example.com/' } };
export const worse: Receipt = { message: 1, subscription: 2, event: 'opened', at: 0 };
`);
  const failed = tsc(project);
  assert.notEqual(failed.status, 0, 'tsc rejects a wrong payload');
  assert.match(failed.stdout, /worker.ts\(3,.*'8030'/);
  assert.match(failed.stdout, /worker.ts\(4,.*"opened"/);
});

// The classic service worker build, loaded as importScripts would, in a
// context that has just what it touches.
function loadWorker() {
  const listeners = {};
  const context = {
    self: null,
    addEventListener: (type, fn) => { listeners[type] = fn; },
    URL, Response, JSON, Date, btoa, atob, Uint8Array, Array, Object, Promise,
  };
  context.self = context;
  vm.createContext(context);
  vm.runInContext(fs.readFileSync(path.join(CLIENT, 'dist', 'webpush-sw.classic.js'), 'utf8'), context);
  return { api: context.WebPushSW, listeners };
}

test('the service worker reads Declarative Web Push, the older convention, and anything else', () => {
  const { api, listeners } = loadWorker();
  assert.deepEqual(Object.keys(listeners), [], 'importScripts adds no listener until installWebPush()');
  const declarative = api.notificationFor({
    web_push: 8030, app_badge: 4, mutable: false, receipt: { message: 12, subscription: 34 },
    notification: {
      title: 'Reply?', body: 'Ana wrote', navigate: 'https://chat.example.com/c/7', lang: 'pt-BR', dir: 'ltr', tag: 't',
      badge: '/badge.png', timestamp: 1767225600000, renotify: true, vibrate: [200, 100], data: { chat: 7 },
      actions: [{ action: 'reply', title: 'Reply', navigate: 'https://chat.example.com/c/7/reply' }, { action: 'mute', title: 'Mute' }],
    },
  });
  assert.equal(declarative.title, 'Reply?');
  assert.equal(declarative.declarative, true);
  assert.equal(declarative.appBadge, 4);
  assert.deepEqual(JSON.parse(JSON.stringify(declarative.options)), {
    body: 'Ana wrote', badge: '/badge.png', tag: 't', lang: 'pt-BR', dir: 'ltr', renotify: true,
    timestamp: 1767225600000, vibrate: [200, 100],
    actions: [{ action: 'reply', title: 'Reply' }, { action: 'mute', title: 'Mute' }],
    data: {
      url: 'https://chat.example.com/c/7', data: { chat: 7 },
      navigate: { reply: 'https://chat.example.com/c/7/reply' }, receipt: { message: 12, subscription: 34 },
    },
  });
  // web_push as a string is not Declarative Web Push (WebKit ignores it too).
  assert.equal(api.notificationFor({ web_push: '8030', notification: { title: 'x', navigate: 'https://a.example/' } }).title,
    'New notification');
  const old = api.notificationFor({ title: 'Order', url: '/orders/1', app_badge: 2, receipt: true });
  assert.equal(old.title, 'Order');
  assert.equal(old.options.data.url, '/orders/1');
  assert.equal(old.appBadge, 2);
  assert.equal(old.receipt, null, 'a receipt without ids (sent by webpush_send_now) reports nothing');
  assert.deepEqual(JSON.parse(JSON.stringify(api.notificationFor('just text'))), { title: 'New notification', options: { body: 'just text' }, receipt: null });
  assert.equal(api.notificationFor(null).title, 'New notification');
  const options = api.installWebPush({ receiptUrl: '/r' });
  assert.equal(options.receiptUrl, '/r');
  assert.deepEqual(Object.keys(listeners).sort(), ['notificationclick', 'notificationclose', 'push', 'pushsubscriptionchange', 'sync']);
});

test('the classic page build is window.WebPush', () => {
  const context = { window: {}, URL, Error, Object, Promise };
  vm.createContext(context);
  vm.runInContext(fs.readFileSync(path.join(CLIENT, 'dist', 'webpush-client.classic.js'), 'utf8'), context);
  const api = context.window.WebPush;
  for (const name of ['subscribe', 'unsubscribe', 'getSubscription', 'isSupported', 'WebPushError', 'ErrorCode']) {
    assert.ok(api[name], name);
  }
  assert.equal(api.isSupported(), false, 'no service workers in this context');
  assert.equal(new api.WebPushError(api.ErrorCode.NETWORK, 'x').code, 'network-error');
});
