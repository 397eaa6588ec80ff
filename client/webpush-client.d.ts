// Types of webpush-client.js (the page's half of the webpush browser kit).

export interface SubscribeOptions {
  /** URL of the kit's sw.js on your site. Default '/sw.js'. */
  serviceWorker?: string;
  /** Service worker scope. Default: the script's folder. */
  scope?: string;
  /** webpush_keys() as base64url; fetched from keyUrl when not given. */
  applicationServerKey?: string | null;
  /** Default '/api/key'. */
  keyUrl?: string;
  /** Default '/api/subscription'. */
  subscriptionUrl?: string;
  /** Where sw.js posts {receipts: [...]} (shown, clicked, closed). None when null. */
  receiptUrl?: string | null;
  /** Extra request headers, e.g. a CSRF token; sw.js sends them too. */
  headers?: Record<string, string>;
  /** Extra members of the POST bodies. */
  body?: Record<string, unknown>;
  /** The title sw.js shows for a push without one. */
  defaultTitle?: string;
}

export declare const ErrorCode: Readonly<{
  UNSUPPORTED: 'unsupported';
  PERMISSION_DENIED: 'permission-denied';
  PERMISSION_DISMISSED: 'permission-dismissed';
  SUBSCRIBE_FAILED: 'subscribe-failed';
  SERVER: 'server-error';
  NETWORK: 'network-error';
  SERVICE_WORKER: 'service-worker-failed';
}>;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export declare class WebPushError extends Error {
  constructor(code: ErrorCodeValue, message: string, details?: { cause?: unknown; status?: number; body?: unknown });
  readonly name: 'WebPushError';
  readonly code: ErrorCodeValue;
  /** HTTP status, for 'server-error'. */
  readonly status?: number;
  /** The server's parsed answer, for 'server-error'. */
  readonly body?: unknown;
}

export declare function isSupported(): boolean;
export declare function subscribe(options?: SubscribeOptions): Promise<PushSubscription>;
export declare function unsubscribe(options?: SubscribeOptions): Promise<boolean>;
export declare function getSubscription(options?: SubscribeOptions): Promise<PushSubscription | null>;
export declare function requestPermission(): Promise<NotificationPermission>;
export declare function urlBase64ToUint8Array(text: string): Uint8Array;
export declare function uint8ArrayToUrlBase64(buffer: ArrayBuffer | ArrayBufferView): string;
