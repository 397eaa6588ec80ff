/*
 * signers.h
 *		VAPID signers by key id, kept for the life of the process: the worker
 *		and webpush_send_now sign through them.
 *
 * A signer holds a key's private half, its application's subject and the
 * JWTs already signed per push service origin.  Entries are checked against
 * the tables once per transaction that uses them, so a rotation, a retired
 * key or a new subject shows at the next claim.
 */
#ifndef WEBPUSH_SIGNERS_H
#define WEBPUSH_SIGNERS_H

#include "postgres.h"

#include "vapid.h"

typedef enum SignerStatus
{
	SIGNER_OK,
	SIGNER_KEY_GONE,			/* the key was retired */
	SIGNER_NO_SUBJECT,			/* its application has no subject yet */
	SIGNER_FAILED				/* out of memory, or an unusable key */
} SignerStatus;

/*
 * The signer for key_id, loaded or checked in the current transaction when
 * it was not since signers_expire(); NULL with *status saying why.
 */
extern VapidSigner *signer_for_key(int64 key_id, SignerStatus *status);

/* Have the next signer_for_key() of each key read the tables again. */
extern void signers_expire(void);

/* Why a status is not SIGNER_OK, for a history reason or an error. */
extern const char *signer_status_message(SignerStatus status);

#endif							/* WEBPUSH_SIGNERS_H */
