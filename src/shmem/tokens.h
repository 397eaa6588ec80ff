/*
 * tokens.h
 *		The VAPID JWTs that every worker and backend of the cluster share, in
 *		shared memory: one per signing key, subject and push service origin
 *		(crypto/vapid.h's token id), so that a push service sees one token
 *		for an audience and key until it is due to be signed again, however
 *		many processes send with that key.  Apple refuses a token signed
 *		again within the hour.
 *
 * The table outlives a restart, and the crash and restart of the server
 * after a process fails: each new token is written, with the others, to
 * the file TOKENS_FILE in the data directory, and the postmaster reads
 * back the ones still valid when it creates the table.  Without that, the
 * first token after a restart would be a new one, which Apple refuses
 * within the hour of the last.
 *
 * The JWTs are bearer credentials, bound to one push service and valid for
 * hours: shared memory is readable by server processes only, the file by
 * the server's operating system user (with the data directory's mode, as
 * the tables that hold the private keys), and nothing here is visible from
 * SQL.
 *
 * The table exists only when the library is preloaded.  It holds
 * TOKENS_MAX tokens of at most TOKENS_JWT_MAX bytes; a token no longer
 * wanted by anyone (less than the refresh margin left) makes room for a
 * new one.  When there is none (logged once per process), or for a longer
 * JWT (an origin and subject of hundreds of characters), the caller keeps
 * the token it signed to itself.
 */
#ifndef WEBPUSH_SHMEM_TOKENS_H
#define WEBPUSH_SHMEM_TOKENS_H

#include "postgres.h"

#include "crypto/vapid.h"

#define TOKENS_MAX 1024
/* A JWT for a usual origin and subject is under 300 bytes. */
#define TOKENS_JWT_MAX 768
/* In the data directory; replaced whole (durable_rename) at each store. */
#define TOKENS_FILE "webpush_vapid_tokens"

/* From _PG_init when preloaded. */
extern void tokens_request_shmem(void);

/*
 * Take the table's lock (exclusive), for a lookup and, on a miss, the
 * signing of a new token and its store, so that two processes that miss
 * together do not both sign one; release it.  shared_tokens_lock returns
 * false (and takes nothing) without shared memory.
 */
extern bool shared_tokens_lock(void);
extern void shared_tokens_unlock(void);

/*
 * Under the lock: the token stored under id that is still valid after
 * valid_after (its exp later than that), copied into jwt (NUL-terminated)
 * with its exp; its length, or -1 when there is none or it does not fit in
 * cap.
 */
extern long shared_token_find(const uint8 id[VAPID_TOKEN_ID_LEN], int64 valid_after,
							  char *jwt, size_t cap, int64 *exp);

/*
 * Under the lock: the id of the token for audience (crypto/vapid.h's
 * audience id: the key and origin, whatever the subject) signed last, if
 * that was after signed_after, with when it was signed; false when there
 * is none.
 */
extern bool shared_token_latest(const uint8 audience[VAPID_TOKEN_ID_LEN],
								int64 signed_after, uint8 id[VAPID_TOKEN_ID_LEN],
								int64 *signed_at);

/*
 * Under the lock: store jwt (len bytes), signed at signed_at for audience
 * and valid until exp, under id, replacing what was there, and write the
 * table to TOKENS_FILE (a failure is logged: the token is shared all the
 * same).  When the table is full, tokens whose exp is not after
 * stale_after make room first.  False when the JWT is longer than
 * TOKENS_JWT_MAX or there is no room.
 */
extern bool shared_token_store(const uint8 id[VAPID_TOKEN_ID_LEN],
							   const uint8 audience[VAPID_TOKEN_ID_LEN],
							   const char *jwt, size_t len,
							   int64 signed_at, int64 exp, int64 stale_after);

#endif							/* WEBPUSH_SHMEM_TOKENS_H */
