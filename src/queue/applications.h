/*
 * applications.h
 *		Applications and their VAPID keys, through SPI.
 *
 * An application is a site that sends notifications: a contact (the VAPID
 * "sub" claim) and any number of key pairs, one of them current.  Browsers
 * bind each subscription to the public key they subscribed with, so a key
 * signs for its subscriptions until it is retired; the current key is the
 * one handed out for new subscriptions.  "default" is created on first use
 * with webpush.subject as its contact.
 */
#ifndef WEBPUSH_APPLICATIONS_H
#define WEBPUSH_APPLICATIONS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/date.h"

#include "crypto/p256.h"

#define APP_DEFAULT_NAME	"default"
#define APP_NAME_MAX_LEN	63

/*
 * Create "default" (granted to webpush_sender) unless it exists; true when
 * it was created now.
 */
extern bool app_ensure_default(void);

/* Error unless name is a valid application name; returns it as a C string. */
extern char *app_name_arg(text *name);

/*
 * The application's current key id, its public key into public_key.  The
 * "default" application and a first key are created when missing; any
 * other unknown application is an error.
 */
extern int64 app_current_key(const char *app, uint8 public_key[P256_PUBLIC_LEN]);

/* The same without creating anything: 0 when the application has no key. */
extern int64 app_existing_key(const char *app, uint8 public_key[P256_PUBLIC_LEN]);

/*
 * Error unless the application exists and has a subject.  "default" takes
 * webpush.subject the first time one is needed.
 */
extern void app_require_subject(const char *app);

/*
 * Whether app_require_subject(app) already succeeded in this process, so
 * that it would run no statement.
 */
extern bool app_subject_known(const char *app);

/* Create the application, or change its subject; its current public key. */
extern void app_upsert(const char *app, const char *subject,
					   uint8 public_key[P256_PUBLIC_LEN]);

/* Set the time zone of app's subscriptions that have none (app exists). */
extern void app_set_time_zone(const char *app, const char *time_zone);

/* Set app's quiet hours, or none (app exists). */
extern void app_set_quiet_hours(const char *app, bool none, TimeADT start, TimeADT end);

/* Set app's rate, or none (per_second 0; app exists). */
extern void app_set_rate(const char *app, double per_second, int32 burst);

/*
 * Set app's frequency cap: at most max_messages per per, over_cap "drop" or
 * "defer"; none when per is NULL (app exists).
 */
extern void app_set_frequency_cap(const char *app, int32 max_messages, const Interval *per,
								  const char *over_cap);

/*
 * The id of the key with this public key, and its application's name into
 * app (APP_NAME_MAX_LEN + 1 bytes); 0 when no application has it.
 */
extern int64 app_find_key(const uint8 public_key[P256_PUBLIC_LEN], char *app);

/*
 * Make a new current key for the application: generated when private_key
 * is NULL, else that one (an older key of the same application becomes
 * current again).  Returns how many subscriptions stay on older keys.
 */
extern int64 app_rotate(const char *app, const uint8 *private_key,
						uint8 public_key[P256_PUBLIC_LEN]);

/*
 * Delete a key that is not current.  While subscriptions use it, refuse,
 * or delete them too when drop_subscriptions.  Returns how many went.
 */
extern int64 app_retire_key(const uint8 public_key[P256_PUBLIC_LEN],
							bool drop_subscriptions);

/* One key pair, for a backup. */
typedef struct AppKeyPair
{
	uint8		private_key[P256_PRIVATE_LEN];
	uint8		public_key[P256_PUBLIC_LEN];
	bool		current;
	TimestampTz created_at;
} AppKeyPair;

/* The application's key pairs, oldest first (palloc'd); returns how many. */
extern int	app_key_pairs(const char *app, AppKeyPair **out);

/*
 * What signing with a key needs: its private key and its application's
 * subject (palloc'd; NULL when the application has none).  False when the
 * key no longer exists.
 */
extern bool app_signing_key(int64 key_id, uint8 private_key[P256_PRIVATE_LEN],
							char **subject);

#endif							/* WEBPUSH_APPLICATIONS_H */
