// Types of webpush-sw.js (the service worker's half of the webpush browser
// kit).  The classic builds expose the same functions as self.WebPushSW.

export interface WebPushWorkerOptions {
  /** Default '/api/subscription'. */
  subscriptionUrl?: string | null;
  /** Default '/api/key'. */
  keyUrl?: string | null;
  /** Where receipts go; default: the receiptUrl the page gave subscribe(). */
  receiptUrl?: string | null;
  /** Default 'New notification'. */
  defaultTitle?: string | null;
}

/** The ids the extension's worker writes into a payload's "receipt". */
export interface ReceiptIds {
  message: number | string;
  subscription: number | string;
}

export type ReceiptEvent = 'shown' | 'clicked' | 'closed';

/** One receipt as sw.js posts it: {receipts: Receipt[]} (webpush_receipts() takes the array). */
export interface Receipt extends ReceiptIds {
  event: ReceiptEvent;
  /** clicked: the action (button); absent for the notification itself. */
  action?: string;
  /** Date.now() when it happened. */
  at: number;
}

export interface NotificationAction {
  action: string;
  title: string;
  navigate?: string;
  icon?: string;
}

/** Declarative Web Push, as webpush_notification() builds it for an https url. */
export interface DeclarativePayload {
  web_push: 8030;
  notification: {
    title: string;
    navigate: string;
    body?: string;
    lang?: string;
    dir?: 'auto' | 'ltr' | 'rtl';
    tag?: string;
    icon?: string;
    image?: string;
    badge?: string;
    silent?: boolean;
    timestamp?: number;
    data?: unknown;
    actions?: NotificationAction[];
    app_badge?: number;
    mutable?: boolean;
    requireInteraction?: boolean;
    renotify?: boolean;
    vibrate?: number[];
  };
  app_badge?: number;
  mutable?: boolean;
  receipt?: ReceiptIds | true;
}

/** The older convention, for a url that is a path of the site. */
export interface ConventionPayload {
  title: string;
  body?: string;
  url?: string;
  icon?: string;
  badge?: string;
  image?: string;
  tag?: string;
  lang?: string;
  dir?: 'auto' | 'ltr' | 'rtl';
  data?: unknown;
  actions?: NotificationAction[];
  requireInteraction?: boolean;
  silent?: boolean;
  renotify?: boolean;
  timestamp?: number;
  vibrate?: number[];
  app_badge?: number;
  receipt?: ReceiptIds | true;
}

export interface ShownNotification {
  title: string;
  options: NotificationOptions & { data: { url: string | null; data: unknown; navigate: Record<string, string>; receipt: ReceiptIds | null } };
  receipt: ReceiptIds | null;
  appBadge?: number;
  declarative?: boolean;
}

// Events are typed loosely so that this file compiles without the
// WebWorker library; in a service worker they are PushEvent,
// NotificationEvent and so on.
export declare function notificationFor(payload: DeclarativePayload | ConventionPayload | string | null | unknown,
  defaultTitle?: string): ShownNotification;
export declare function handlePush(event: any): Promise<void>;
export declare function handleClick(event: any): Promise<void>;
export declare function handleClose(event: any): Promise<void>;
export declare function recordReceipt(receipt: ReceiptIds | null, event: ReceiptEvent, action?: string): Promise<void>;
export declare function flushReceipts(): Promise<void>;
export declare function renewSubscription(oldSubscription: PushSubscription | null, newSubscription: PushSubscription | null): Promise<void>;
export declare function installWebPush(options?: WebPushWorkerOptions): Required<WebPushWorkerOptions>;
