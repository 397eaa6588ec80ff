/*
 * tokens.c
 *		The VAPID JWTs shared by every worker and backend of the cluster
 *		(tokens.h).
 *
 * One lock for the table: a process takes it only when its own copy of a
 * token is missing or due to be signed again (once per key and origin in
 * eleven hours), never per message, so it is not contended; holding it
 * while signing (some 50 microseconds) is what keeps two processes from
 * both signing.
 */
#include "postgres.h"

#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"

#include "shmem/areas.h"
#include "shmem/tokens.h"

#define TOKENS_TRANCHE "webpush tokens"

typedef struct TokenEntry
{
	uint8		id[VAPID_TOKEN_ID_LEN]; /* hash key */
	int64		exp;
	uint16		len;
	char		jwt[TOKENS_JWT_MAX + 1];
} TokenEntry;

static LWLock *tokens_lock = NULL;
static HTAB *tokens = NULL;
static bool full_logged = false;

static void
request_shmem(void)
{
	RequestAddinShmemSpace(hash_estimate_size(TOKENS_MAX, sizeof(TokenEntry)));
	RequestNamedLWLockTranche(TOKENS_TRANCHE, 1);
}

static void
attach_shmem(void)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = VAPID_TOKEN_ID_LEN;
	info.entrysize = sizeof(TokenEntry);
	/* Fixed: a full table is the documented case, not more memory taken. */
	tokens = ShmemInitHash("webpush tokens", TOKENS_MAX, TOKENS_MAX,
						   &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	tokens_lock = &(GetNamedLWLockTranche(TOKENS_TRANCHE))->lock;
}

void
tokens_request_shmem(void)
{
	shmem_area_register(request_shmem, attach_shmem);
}

bool
shared_tokens_lock(void)
{
	if (tokens_lock == NULL)
		return false;
	LWLockAcquire(tokens_lock, LW_EXCLUSIVE);
	return true;
}

void
shared_tokens_unlock(void)
{
	LWLockRelease(tokens_lock);
}

long
shared_token_find(const uint8 id[VAPID_TOKEN_ID_LEN], int64 valid_after,
				  char *jwt, size_t cap, int64 *exp)
{
	TokenEntry *entry;

	Assert(LWLockHeldByMeInMode(tokens_lock, LW_EXCLUSIVE));
	entry = hash_search(tokens, id, HASH_FIND, NULL);
	if (entry == NULL || entry->exp <= valid_after || entry->len >= cap)
		return -1;
	memcpy(jwt, entry->jwt, entry->len + 1);
	*exp = entry->exp;
	return entry->len;
}

/* Room for a new token: the ones no process takes any more go. */
static void
remove_stale(int64 stale_after)
{
	HASH_SEQ_STATUS seq;
	TokenEntry *entry;

	hash_seq_init(&seq, tokens);
	while ((entry = hash_seq_search(&seq)) != NULL)
		if (entry->exp <= stale_after)
			(void) hash_search(tokens, entry->id, HASH_REMOVE, NULL);
}

bool
shared_token_store(const uint8 id[VAPID_TOKEN_ID_LEN], const char *jwt,
				   size_t len, int64 exp, int64 stale_after)
{
	TokenEntry *entry;

	Assert(LWLockHeldByMeInMode(tokens_lock, LW_EXCLUSIVE));
	if (len > TOKENS_JWT_MAX)
		return false;
	entry = hash_search(tokens, id, HASH_ENTER_NULL, NULL);
	if (entry == NULL)
	{
		remove_stale(stale_after);
		entry = hash_search(tokens, id, HASH_ENTER_NULL, NULL);
	}
	if (entry == NULL)
	{
		/* Said once per process: it then signs its own for the others. */
		if (!full_logged)
			ereport(LOG,
					(errmsg("webpush: no room for more than %d shared VAPID tokens; this process signs its own for the others",
							TOKENS_MAX),
					 errdetail("A push service may then see a token for one audience and key from each process, which Apple refuses within the hour.")));
		full_logged = true;
		return false;
	}
	memcpy(entry->jwt, jwt, len);
	entry->jwt[len] = '\0';
	entry->len = (uint16) len;
	entry->exp = exp;
	return true;
}
