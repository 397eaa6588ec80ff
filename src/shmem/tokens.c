/*
 * tokens.c
 *		The VAPID JWTs shared by every worker and backend of the cluster
 *		(tokens.h).
 *
 * One lock for the table: a process takes it only when its own copy of a
 * token is missing or due to be signed again (once per key and origin in
 * eleven hours), never per message, so it is not contended; holding it
 * while signing (some 50 microseconds) is what keeps two processes from
 * both signing.  It is held while the file is written too: that happens
 * once per new token, and keeps two writers from interleaving.
 *
 * The file: a header (magic, version, count), the entries (id, audience,
 * signed_at, exp, length, the JWT's bytes) and a CRC-32C of all that.  A
 * file that does not read back whole is logged and ignored: its tokens are
 * then signed again, as without the file.
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"

#include "shmem/areas.h"
#include "shmem/tokens.h"

#define TOKENS_TRANCHE "webpush tokens"
#define TOKENS_FILE_MAGIC 0x57505654	/* "WPVT" */
#define TOKENS_FILE_VERSION 2

typedef struct TokenEntry
{
	uint8		id[VAPID_TOKEN_ID_LEN]; /* hash key */
	uint8		audience[VAPID_TOKEN_ID_LEN];
	int64		signed_at;
	int64		exp;
	uint16		len;
	char		jwt[TOKENS_JWT_MAX + 1];
} TokenEntry;

/*
 * An entry in the file: a TokenEntry's fields up to its JWT, as they are in
 * memory, then the JWT's len bytes.  They leave no padding between them, so
 * nothing unset is written.
 */
#define TOKEN_HEAD_LEN offsetof(TokenEntry, jwt)
StaticAssertDecl(offsetof(TokenEntry, jwt) ==
				 2 * VAPID_TOKEN_ID_LEN + 2 * sizeof(int64) + sizeof(uint16),
				 "a token's head has no padding");

typedef struct TokenFileHeader
{
	uint32		magic;
	uint32		version;
	uint32		count;
} TokenFileHeader;

static LWLock *tokens_lock = NULL;
static HTAB *tokens = NULL;
static bool full_logged = false;

static void
request_shmem(void)
{
	RequestAddinShmemSpace(hash_estimate_size(TOKENS_MAX, sizeof(TokenEntry)));
	RequestNamedLWLockTranche(TOKENS_TRANCHE, 1);
}

static void load_tokens(void);

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

	/*
	 * The postmaster creates the table, at start and after a crash; the
	 * processes it starts find it filled (EXEC_BACKEND builds attach again).
	 */
	if (!IsUnderPostmaster)
		load_tokens();
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

bool
shared_token_latest(const uint8 audience[VAPID_TOKEN_ID_LEN], int64 signed_after,
					uint8 id[VAPID_TOKEN_ID_LEN], int64 *signed_at)
{
	HASH_SEQ_STATUS seq;
	TokenEntry *entry;
	TokenEntry *found = NULL;

	Assert(LWLockHeldByMeInMode(tokens_lock, LW_EXCLUSIVE));
	hash_seq_init(&seq, tokens);
	while ((entry = hash_seq_search(&seq)) != NULL)
		if (memcmp(entry->audience, audience, VAPID_TOKEN_ID_LEN) == 0 &&
			entry->signed_at > signed_after &&
			(found == NULL || entry->signed_at > found->signed_at))
			found = entry;
	if (found == NULL)
		return false;
	memcpy(id, found->id, VAPID_TOKEN_ID_LEN);
	*signed_at = found->signed_at;
	return true;
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

static void save_tokens(void);

bool
shared_token_store(const uint8 id[VAPID_TOKEN_ID_LEN],
				   const uint8 audience[VAPID_TOKEN_ID_LEN],
				   const char *jwt, size_t len,
				   int64 signed_at, int64 exp, int64 stale_after)
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
	memcpy(entry->audience, audience, VAPID_TOKEN_ID_LEN);
	memcpy(entry->jwt, jwt, len);
	entry->jwt[len] = '\0';
	entry->len = (uint16) len;
	entry->signed_at = signed_at;
	entry->exp = exp;
	save_tokens();
	return true;
}

/* The file ------------------------------------------------------------- */

/*
 * Write the whole table to TOKENS_FILE: to a temporary file first, then
 * renamed over the old one with both made durable, so that a crash leaves
 * the old file or the new one, never half of one.
 */
static void
save_tokens(void)
{
	const char *tmp = TOKENS_FILE ".tmp";
	StringInfoData buf;
	TokenFileHeader header;
	HASH_SEQ_STATUS seq;
	TokenEntry *entry;
	pg_crc32c	crc;
	int			fd;
	bool		ok;

	initStringInfo(&buf);
	memset(&header, 0, sizeof(header));
	header.magic = TOKENS_FILE_MAGIC;
	header.version = TOKENS_FILE_VERSION;
	header.count = (uint32) hash_get_num_entries(tokens);
	appendBinaryStringInfo(&buf, (const char *) &header, sizeof(header));
	hash_seq_init(&seq, tokens);
	while ((entry = hash_seq_search(&seq)) != NULL)
		appendBinaryStringInfo(&buf, (const char *) entry, TOKEN_HEAD_LEN + entry->len);
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf.data, buf.len);
	FIN_CRC32C(crc);
	appendBinaryStringInfo(&buf, (const char *) &crc, sizeof(crc));

	/*
	 * A new file, never one found there: an open of a FIFO left under that
	 * name would wait, with the lock held, for a reader that never comes.
	 */
	(void) unlink(tmp);
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY);
	ok = fd >= 0;
	if (ok)
	{
		errno = 0;
		if (write(fd, buf.data, buf.len) != buf.len)
		{
			/* A short write sets no errno: the disk is full. */
			if (errno == 0)
				errno = ENOSPC;
			ok = false;
		}
	}
	if (!ok)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("webpush: could not write file \"%s\": %m", tmp),
				 errdetail("The shared VAPID tokens are not kept over a restart; Apple refuses a new one within the hour of the last.")));
	if (fd >= 0 && CloseTransientFile(fd) != 0 && ok)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("webpush: could not close file \"%s\": %m", tmp)));
		ok = false;
	}
	if (ok)
		(void) durable_rename(tmp, TOKENS_FILE, LOG);
	else
		(void) unlink(tmp);
	explicit_bzero(buf.data, buf.len);
	pfree(buf.data);
}

/*
 * Read back what TOKENS_FILE holds into the new table: the tokens still
 * valid, as many as fit.  A missing file is the first start's case.
 */
static void
load_tokens(void)
{
	int			fd;
	struct stat st;
	char	   *data = NULL;
	long		size = -1;
	const char *problem = NULL;
	TokenFileHeader header;
	pg_crc32c	crc;
	pg_crc32c	stored;
	int64		now = (int64) time(NULL);
	size_t		offset;

	memset(&header, 0, sizeof(header));

	/*
	 * O_NONBLOCK: the postmaster must not wait here for a writer that never
	 * comes, as an open of a FIFO would.  Whatever is not a regular file is
	 * refused before it is read.
	 */
	fd = OpenTransientFile(TOKENS_FILE, O_RDONLY | O_NONBLOCK | PG_BINARY);
	if (fd < 0)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("webpush: could not open file \"%s\": %m", TOKENS_FILE)));
		return;
	}
	if (fstat(fd, &st) != 0)
		problem = "it could not be read";
	else if (!S_ISREG(st.st_mode))
		problem = "it is not a regular file";
	else if (st.st_size < (off_t) (sizeof(header) + sizeof(crc)) ||
			 st.st_size > (off_t) (sizeof(header) + sizeof(crc) +
								   (off_t) TOKENS_MAX * (TOKEN_HEAD_LEN + TOKENS_JWT_MAX)))
		problem = "its size is not that of a token file";
	else
	{
		size = (long) st.st_size;
		data = palloc(size);
		if (pg_pread(fd, data, size, 0) != size)
			problem = "it could not be read";
	}
	CloseTransientFile(fd);

	if (problem == NULL)
	{
		INIT_CRC32C(crc);
		COMP_CRC32C(crc, data, size - sizeof(crc));
		FIN_CRC32C(crc);
		memcpy(&stored, data + size - sizeof(crc), sizeof(crc));
		memcpy(&header, data, sizeof(header));
		if (!EQ_CRC32C(crc, stored))
			problem = "its checksum does not match";
		else if (header.magic != TOKENS_FILE_MAGIC || header.version != TOKENS_FILE_VERSION)
			problem = "it is not a token file of this version";
	}
	offset = sizeof(header);
	for (uint32 i = 0; problem == NULL && i < header.count; i++)
	{
		TokenEntry	head;
		TokenEntry *entry;

		if (offset + TOKEN_HEAD_LEN > size - sizeof(crc))
		{
			problem = "it ends inside an entry";
			break;
		}
		memcpy(&head, data + offset, TOKEN_HEAD_LEN);
		if (head.len > TOKENS_JWT_MAX ||
			offset + TOKEN_HEAD_LEN + head.len > size - sizeof(crc))
		{
			problem = "an entry is longer than a token";
			break;
		}
		/* Expired ones stay behind; so do ones that no longer fit. */
		if (head.exp > now &&
			(entry = hash_search(tokens, head.id, HASH_ENTER_NULL, NULL)) != NULL)
		{
			memcpy(entry, data + offset, TOKEN_HEAD_LEN + head.len);
			entry->jwt[head.len] = '\0';
		}
		offset += TOKEN_HEAD_LEN + head.len;
	}
	if (problem != NULL)
	{
		HASH_SEQ_STATUS seq;
		TokenEntry *entry;

		ereport(LOG,
				(errmsg("webpush: ignoring file \"%s\": %s", TOKENS_FILE, problem),
				 errdetail("The VAPID tokens signed before the restart are signed again; Apple refuses a new one within the hour of the last.")));
		/* Nothing half read stays. */
		hash_seq_init(&seq, tokens);
		while ((entry = hash_seq_search(&seq)) != NULL)
			(void) hash_search(tokens, entry->id, HASH_REMOVE, NULL);
	}
	if (data != NULL)
	{
		explicit_bzero(data, size);
		pfree(data);
	}
}
