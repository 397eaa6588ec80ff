// The demo page's script: one button subscribes, a form inserts a message.
import { subscribe, unsubscribe, getSubscription, isSupported, WebPushError, ErrorCode } from '/webpush-client.js';

const $ = (id) => document.getElementById(id);
const MESSAGES = {
  [ErrorCode.UNSUPPORTED]: 'This browser cannot receive push notifications here.',
  [ErrorCode.PERMISSION_DENIED]: 'Notifications are blocked. Allow them in the site settings (the icon left of the address), then try again.',
  [ErrorCode.PERMISSION_DISMISSED]: 'You closed the prompt. Click again when you are ready.',
  [ErrorCode.SUBSCRIBE_FAILED]: 'The browser\'s push service refused the subscription.',
  [ErrorCode.SERVER]: 'The server refused the subscription.',
  [ErrorCode.NETWORK]: 'The server could not be reached.',
};

function show(text, kind) {
  $('status').textContent = text;
  $('status').className = kind || '';
}

function subscribed(yes) {
  $('enable').hidden = yes;
  $('disable').hidden = !yes;
  $('send').disabled = !yes;
}

// Set by the buttons: the visit's refresh below must not undo a click.
let userActed = false;

$('enable').addEventListener('click', async () => {
  userActed = true;
  $('enable').disabled = true;
  try {
    await subscribe({ receiptUrl: '/api/receipts' });
    subscribed(true);
    show('Subscribed. Send yourself a notification below.', 'ok');
  } catch (err) {
    const code = err instanceof WebPushError ? err.code : 'unknown';
    document.body.dataset.error = code;
    show(`${MESSAGES[code] || 'Something went wrong.'} (${err.message})`, 'error');
  } finally {
    $('enable').disabled = false;
  }
});

$('disable').addEventListener('click', async () => {
  userActed = true;
  await unsubscribe();
  subscribed(false);
  show('Unsubscribed.');
});

$('push').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch('/api/push', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(Object.fromEntries(form)),
  });
  const answer = await response.json();
  show(response.ok ? `Message ${answer.id} inserted; the notification follows the COMMIT.` : answer.error,
    response.ok ? 'ok' : 'error');
});

// Shown, clicked and closed, as the server recorded them.
async function refreshStats() {
  const { messages, totals } = await (await fetch('/api/stats')).json();
  $('totals').textContent = `${totals.shown} shown, ${totals.clicked} clicked, ${totals.closed} closed`;
  $('stats').tBodies[0].replaceChildren(...messages.map((m) => {
    const tr = document.createElement('tr');
    for (const value of [m.id, m.delivered, m.shown, m.clicked, m.closed, Object.keys(m.actions).join(', ')]) {
      const td = document.createElement('td');
      td.textContent = value;
      tr.append(td);
    }
    return tr;
  }));
}

// sw.js tells open pages what it showed.
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.addEventListener('message', (event) => {
    if (event.data && event.data.type === 'webpush:push') {
      const li = document.createElement('li');
      li.textContent = `${event.data.title}: ${event.data.options.body || ''}`;
      $('received').append(li);
    }
    setTimeout(refreshStats, 500); // after the receipt reached the server
  });
}
setInterval(refreshStats, 5000);

// With run.sh's local push service: subscribe through it instead of the
// browser's vendor; notifications then show in run.sh's terminal.
$('local').addEventListener('click', async () => {
  userActed = true;
  const response = await fetch('/api/local-subscription', { method: 'POST' });
  if (!response.ok) return show('The server refused the local subscription.', 'error');
  $('send').disabled = false;
  show('Subscribed through the local push service: notifications appear in the terminal that runs run.sh.', 'ok');
});

refreshStats();
fetch('/api/me').then((r) => r.json()).then(({ user, localPush }) => {
  $('user').textContent = user;
  $('local').hidden = !localPush;
});
if (!isSupported()) show(MESSAGES[ErrorCode.UNSUPPORTED], 'error');
getSubscription().then(async (s) => {
  subscribed(Boolean(s));
  // On every visit: after a server key rotation (webpush_keys_rotate), this
  // moves the browser onto the new key; otherwise it only confirms.
  if (s && !userActed && Notification.permission === 'granted') await subscribe({ receiptUrl: '/api/receipts' }).catch(() => {});
});
