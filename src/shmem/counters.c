/*
 * counters.c
 *		Cumulative delivery counters and the queue's gauges in shared memory
 *		(see counters.h), kept across clean restarts in pg_stat/webpush.stat.
 *
 * Longer than 800 lines: the shared-memory tables, the batches that reach
 * them at COMMIT, the gauges' snapshot and the file that keeps them across
 * restarts share one locking protocol, which is easier to check in one
 * file.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "support/compat.h"
#include "shmem/counters.h"

/*
 * Application and host pairs counted, over all databases.  An event for a
 * pair beyond this is not counted (a LOG line says so once).
 */
#define COUNTERS_MAX_ENTRIES 4096
/* Databases with gauges and a reset time. */
#define COUNTERS_MAX_DATABASES 256

#define COUNTERS_FILE "pg_stat/webpush.stat"
#define COUNTERS_FILE_MAGIC 0x57505331	/* "WPS1" */
/*
 * Entries are written as they lie in memory: a library that lays them out
 * differently ignores the file rather than misread it.
 */
#define COUNTERS_FILE_LAYOUT \
	((uint32) (sizeof(CounterEntry) * 1000 + sizeof(DatabaseCounters)))
#define COUNTERS_TRANCHE "webpush counters"

/* A snapshot is counted again after a change once it is this old... */
#define GAUGES_MIN_AGE_MS 1000
/*
 * ... by a reader while it has fewer rows than this to count (about a
 * millisecond; rows, not time, which a cold cache would inflate) ...
 */
#define GAUGES_CHEAP_ROWS 10000
/* ... and otherwise by the worker, keeping it to 2% of its time. */
#define GAUGES_WORKER_SHARE 50
/* A reader counts an expensive one itself only when it is this stale. */
#define GAUGES_READER_MAX_AGE_MS 5000
/* A count that never reported back is taken for failed after this. */
#define GAUGES_REFRESH_TIMEOUT_MS 60000

const char *const retry_reason_names[RETRY_REASONS] = {
	"rate_limited", "server_error", "timeout", "connection"
};

const double latency_bounds[LATENCY_BUCKETS - 1] = {
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300
};

typedef struct CounterKey
{
	Oid			dboid;
	char		application[COUNTERS_APP_LEN];
	char		host[COUNTERS_HOST_LEN];
} CounterKey;

typedef struct CounterEntry
{
	CounterKey	key;			/* hash key: zero-padded strings */
	CounterRow	row;
} CounterEntry;

typedef struct DatabaseCounters
{
	Oid			dboid;			/* hash key */
	TimestampTz stats_reset;	/* since when its counters count */
	TimestampTz counted_at;		/* the gauges' snapshot; 0: none */
	double		cost_ms;		/* what counting it takes (smoothed) */
	int64		rows;			/* the rows it counted last time */
	bool		changed;		/* the queue changed since counted_at */
	bool		counting;		/* a process is counting it */
	TimestampTz counting_since;
} DatabaseCounters;

typedef struct CountersShared
{
	LWLock	   *lock;
	TimestampTz created;		/* stats_reset of databases never reset */
	bool		full_logged;
} CountersShared;

static CountersShared *shared = NULL;
static HTAB *entries = NULL;
static HTAB *databases = NULL;

#ifdef WEBPUSH_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static bool changed_at_commit = false;
static bool xact_callback_registered = false;

static Size
counters_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(CountersShared));

	size = add_size(size, hash_estimate_size(COUNTERS_MAX_ENTRIES, sizeof(CounterEntry)));
	size = add_size(size, hash_estimate_size(COUNTERS_MAX_DATABASES, sizeof(DatabaseCounters)));
	return size;
}

static void
request_shmem(void)
{
	RequestAddinShmemSpace(counters_shmem_size());
	RequestNamedLWLockTranche(COUNTERS_TRANCHE, 1);
}

#ifdef WEBPUSH_HAVE_SHMEM_REQUEST_HOOK
static void
counters_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	request_shmem();
}
#endif

/*
 * The file: magic, layout, created, the counts of databases and entries,
 * then both as they lie in memory.
 */
static void
counters_write_file(int code, Datum arg)
{
	FILE	   *file;
	HASH_SEQ_STATUS seq;
	DatabaseCounters *db;
	CounterEntry *entry;
	uint32		magic = COUNTERS_FILE_MAGIC;
	uint32		layout = COUNTERS_FILE_LAYOUT;
	int32		ndatabases;
	int32		nentries;

	/* After a crash, shared memory is not to be trusted: nothing written. */
	if (code != 0 || shared == NULL)
		return;
	file = AllocateFile(COUNTERS_FILE ".tmp", PG_BINARY_W);
	if (file == NULL)
		goto error;
	ndatabases = (int32) hash_get_num_entries(databases);
	nentries = (int32) hash_get_num_entries(entries);
	if (fwrite(&magic, sizeof(magic), 1, file) != 1 ||
		fwrite(&layout, sizeof(layout), 1, file) != 1 ||
		fwrite(&shared->created, sizeof(shared->created), 1, file) != 1 ||
		fwrite(&ndatabases, sizeof(ndatabases), 1, file) != 1 ||
		fwrite(&nentries, sizeof(nentries), 1, file) != 1)
		goto error;
	hash_seq_init(&seq, databases);
	while ((db = hash_seq_search(&seq)) != NULL)
		if (fwrite(db, sizeof(*db), 1, file) != 1)
		{
			hash_seq_term(&seq);
			goto error;
		}
	hash_seq_init(&seq, entries);
	while ((entry = hash_seq_search(&seq)) != NULL)
		if (fwrite(entry, sizeof(*entry), 1, file) != 1)
		{
			hash_seq_term(&seq);
			goto error;
		}
	if (FreeFile(file) != 0)
	{
		file = NULL;
		goto error;
	}
	(void) durable_rename(COUNTERS_FILE ".tmp", COUNTERS_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", COUNTERS_FILE ".tmp"),
			 errdetail("The webpush counters start from zero at the next start.")));
	if (file)
		FreeFile(file);
	unlink(COUNTERS_FILE ".tmp");
}

/* A database's entry as new, with no queue counted yet. */
static void
init_database(DatabaseCounters *db, TimestampTz stats_reset)
{
	db->stats_reset = stats_reset;
	db->counted_at = 0;
	db->cost_ms = 0;
	db->rows = 0;
	db->changed = true;
	db->counting = false;
	db->counting_since = 0;
}

/*
 * hash_search(HASH_ENTER_NULL) on a shared hash, kept to max entries: a
 * shared hash grows past the size it was made for into the free shared
 * memory that the lock table and others need, so it is bounded here (as
 * pg_stat_statements bounds its own).  NULL when key is new and the table
 * is full.
 */
static void *
bounded_enter(HTAB *table, const void *key, long max, bool *found)
{
	void	   *entry = hash_search(table, key, HASH_FIND, NULL);

	if (found != NULL)
		*found = entry != NULL;
	if (entry != NULL)
		return entry;
	if (hash_get_num_entries(table) >= max)
		return NULL;
	return hash_search(table, key, HASH_ENTER_NULL, found);
}

/* Read what the last clean shutdown wrote; the file goes once read. */
static void
counters_read_file(void)
{
	FILE	   *file = AllocateFile(COUNTERS_FILE, PG_BINARY_R);
	uint32		magic;
	uint32		layout;
	int32		ndatabases;
	int32		nentries;
	TimestampTz created;
	int			i;

	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", COUNTERS_FILE)));
		return;
	}
	if (fread(&magic, sizeof(magic), 1, file) != 1 || magic != COUNTERS_FILE_MAGIC ||
		fread(&layout, sizeof(layout), 1, file) != 1 || layout != COUNTERS_FILE_LAYOUT ||
		fread(&created, sizeof(created), 1, file) != 1 ||
		fread(&ndatabases, sizeof(ndatabases), 1, file) != 1 ||
		fread(&nentries, sizeof(nentries), 1, file) != 1)
		goto bad;
	shared->created = created;
	for (i = 0; i < ndatabases; i++)
	{
		DatabaseCounters db;
		DatabaseCounters *slot;

		if (fread(&db, sizeof(db), 1, file) != 1)
			goto bad;
		slot = bounded_enter(databases, &db.dboid, COUNTERS_MAX_DATABASES, NULL);
		if (slot == NULL)
			continue;
		/* The queue's gauges are counted again. */
		init_database(slot, db.stats_reset);
	}
	for (i = 0; i < nentries; i++)
	{
		CounterEntry entry;
		CounterEntry *slot;

		if (fread(&entry, sizeof(entry), 1, file) != 1)
			goto bad;
		slot = bounded_enter(entries, &entry.key, COUNTERS_MAX_ENTRIES, NULL);
		if (slot == NULL)
			continue;
		slot->row = entry.row;
		memset(&slot->row.gauges, 0, sizeof(slot->row.gauges));
	}
	FreeFile(file);
	unlink(COUNTERS_FILE);
	return;

bad:
	ereport(LOG,
			(errmsg("ignoring the webpush counters in \"%s\": the file is damaged or from another version",
					COUNTERS_FILE)));
	FreeFile(file);
	unlink(COUNTERS_FILE);
}

static void
counters_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("webpush counters", sizeof(CountersShared), &found);
	if (!found)
	{
		shared->lock = &(GetNamedLWLockTranche(COUNTERS_TRANCHE))->lock;
		shared->created = GetCurrentTimestamp();
		shared->full_logged = false;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(CounterKey);
	info.entrysize = sizeof(CounterEntry);
	entries = ShmemInitHash("webpush counters by host", COUNTERS_MAX_ENTRIES,
							COUNTERS_MAX_ENTRIES, &info, HASH_ELEM | HASH_BLOBS);
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(Oid);
	info.entrysize = sizeof(DatabaseCounters);
	databases = ShmemInitHash("webpush counters by database", COUNTERS_MAX_DATABASES,
							  COUNTERS_MAX_DATABASES, &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);

	/*
	 * The postmaster reads the file at start (and at a restart after a
	 * crash, when it is gone) and writes it when it exits cleanly, after
	 * every other process has stopped counting.
	 */
	if (!IsUnderPostmaster)
	{
		if (!found)
			counters_read_file();
		on_shmem_exit(counters_write_file, (Datum) 0);
	}
}

void
counters_request_shmem(void)
{
#ifdef WEBPUSH_HAVE_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = counters_shmem_request;
#else
	request_shmem();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = counters_shmem_startup;
}

bool
counters_available(void)
{
	return shared != NULL;
}

/* Counting ------------------------------------------------------------- */

typedef struct BatchItem
{
	CounterKey	key;
	CounterRow	row;
} BatchItem;

struct CounterBatch
{
	HTAB	   *items;			/* BatchItem by key, in TopMemoryContext */
	BatchItem  *last;			/* the item added to last, or NULL */
};

static void
make_key(CounterKey *key, Oid dboid, const char *application, const char *host)
{
	memset(key, 0, sizeof(*key));
	key->dboid = dboid;
	strlcpy(key->application, application ? application : "", COUNTERS_APP_LEN);
	strlcpy(key->host, host ? host : "", COUNTERS_HOST_LEN);
}

static int
latency_bucket(double seconds)
{
	int			i;

	for (i = 0; i < LATENCY_BUCKETS - 1; i++)
		if (seconds <= latency_bounds[i])
			return i;
	return LATENCY_BUCKETS - 1;
}

/* Add one event to a row (process memory or, under the lock, shared). */
static void
add_event(CounterRow *row, const CountedEvent *e)
{
	int64		n = e->count > 0 ? e->count : 1;

	if (e->requested)
	{
		row->sent += n;
		row->bytes += e->bytes;
	}
	switch (e->outcome)
	{
		case COUNT_DELIVERED:
			row->delivered += n;
			if (e->latency_s >= 0)
			{
				row->latency[latency_bucket(e->latency_s)] += n;
				row->latency_sum += e->latency_s * n;
			}
			break;
		case COUNT_GONE:
			row->gone += n;
			break;
		case COUNT_FAILED:
			row->failed += n;
			break;
		case COUNT_EXPIRED:
			row->expired += n;
			break;
		case COUNT_RETRIED:
			row->retried[e->retry_reason] += n;
			break;
		case COUNT_CANCELLED:
			row->cancelled += n;
			break;
		case COUNT_REFUSED:
			row->refused += n;
			break;
		case COUNT_HELD_QUIET_HOURS:
			row->held_quiet_hours += n;
			break;
		case COUNT_CAP_DEFERRED:
			row->capped_deferred += n;
			break;
		case COUNT_THROTTLED:
			row->throttled += n;
			break;
		case COUNT_NONE:
			break;
	}
	if (e->cap_dropped)
		row->capped_dropped += n;
	if (e->problem != NULL)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (now >= row->last_problem_at)
		{
			/* Cut on a character boundary: the view returns it as text. */
			int			len = pg_mbcliplen(e->problem, strlen(e->problem),
										   COUNTERS_PROBLEM_LEN - 1);

			memcpy(row->last_problem, e->problem, len);
			row->last_problem[len] = '\0';
			row->last_problem_at = now;
		}
	}
}

/* Add a row of counts to another (gauges excepted). */
static void
add_row(CounterRow *to, const CounterRow *from)
{
	int			i;

	to->sent += from->sent;
	to->bytes += from->bytes;
	to->delivered += from->delivered;
	to->gone += from->gone;
	to->failed += from->failed;
	to->expired += from->expired;
	to->cancelled += from->cancelled;
	to->refused += from->refused;
	to->capped_dropped += from->capped_dropped;
	to->capped_deferred += from->capped_deferred;
	to->held_quiet_hours += from->held_quiet_hours;
	to->throttled += from->throttled;
	for (i = 0; i < RETRY_REASONS; i++)
		to->retried[i] += from->retried[i];
	for (i = 0; i < LATENCY_BUCKETS; i++)
		to->latency[i] += from->latency[i];
	to->latency_sum += from->latency_sum;
	if (from->last_problem_at != 0 && from->last_problem_at >= to->last_problem_at)
	{
		memcpy(to->last_problem, from->last_problem, COUNTERS_PROBLEM_LEN);
		to->last_problem_at = from->last_problem_at;
	}
}

/* The entry of key, made when missing; NULL when the table is full. */
static CounterEntry *
entry_for(const CounterKey *key)
{
	bool		found;
	CounterEntry *entry = bounded_enter(entries, key, COUNTERS_MAX_ENTRIES, &found);

	if (entry == NULL)
	{
		if (!shared->full_logged)
		{
			shared->full_logged = true;
			ereport(LOG,
					(errmsg("webpush counters are full: %d application and host pairs are counted, no more",
							COUNTERS_MAX_ENTRIES),
					 errhint("Pairs of a dropped database are forgotten; a host that no application sends to any more keeps its pair until then.")));
		}
		return NULL;
	}
	if (!found)
	{
		memset(&entry->row, 0, sizeof(entry->row));
		strlcpy(entry->row.application, key->application, COUNTERS_APP_LEN);
		strlcpy(entry->row.host, key->host, COUNTERS_HOST_LEN);
	}
	return entry;
}

/* The database's entry, made when missing (under the lock, exclusive). */
static DatabaseCounters *
database_for(Oid dboid)
{
	bool		found;
	DatabaseCounters *db = bounded_enter(databases, &dboid, COUNTERS_MAX_DATABASES, &found);

	if (db != NULL && !found)
		init_database(db, shared->created);
	return db;
}

CounterBatch *
counter_batch_create(void)
{
	CounterBatch *batch = MemoryContextAllocZero(TopMemoryContext, sizeof(CounterBatch));
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(CounterKey);
	info.entrysize = sizeof(BatchItem);
	info.hcxt = TopMemoryContext;
	batch->items = hash_create("webpush counter batch", 64, &info,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return batch;
}

void
counter_batch_add(CounterBatch *batch, const CountedEvent *event)
{
	CounterKey	key;
	BatchItem  *item;
	bool		found;

	if (event->outcome == COUNT_NONE && !event->requested)
		return;

	/*
	 * A batch's events are mostly of one application and host: the item
	 * added to last is checked first, before a key is made and hashed.
	 */
	item = batch->last;
	if (item == NULL ||
		strncmp(item->key.application, event->application ? event->application : "",
				COUNTERS_APP_LEN) != 0 ||
		strncmp(item->key.host, event->host ? event->host : "", COUNTERS_HOST_LEN) != 0)
	{
		make_key(&key, InvalidOid, event->application, event->host);
		item = hash_search(batch->items, &key, HASH_ENTER, &found);
		if (!found)
			memset(&item->row, 0, sizeof(item->row));
		batch->last = item;
	}
	add_event(&item->row, event);
}

void
counter_batch_flush(CounterBatch *batch, Oid dboid)
{
	HASH_SEQ_STATUS seq;
	BatchItem  *item;

	if (hash_get_num_entries(batch->items) == 0)
		return;
	if (shared != NULL)
	{
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		(void) database_for(dboid);
		hash_seq_init(&seq, batch->items);
		while ((item = hash_seq_search(&seq)) != NULL)
		{
			CounterKey	key = item->key;
			CounterEntry *entry;

			key.dboid = dboid;
			if ((entry = entry_for(&key)) != NULL)
				add_row(&entry->row, &item->row);
		}
		LWLockRelease(shared->lock);
	}
	/* Emptied for the next batch. */
	batch->last = NULL;
	hash_seq_init(&seq, batch->items);
	while ((item = hash_seq_search(&seq)) != NULL)
		(void) hash_search(batch->items, &item->key, HASH_REMOVE, NULL);
}

void
counters_count(const CountedEvent *event)
{
	CounterKey	key;
	CounterEntry *entry;

	if (shared == NULL)
		return;
	make_key(&key, MyDatabaseId, event->application, event->host);
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	(void) database_for(MyDatabaseId);
	if ((entry = entry_for(&key)) != NULL)
		add_event(&entry->row, event);
	LWLockRelease(shared->lock);
}

RetryReason
counters_retry_reason(long status, bool timed_out)
{
	if (status == 429 || status == 406)
		return RETRY_RATE_LIMITED;
	if (status == 408 || (status == 0 && timed_out))
		return RETRY_TIMEOUT;
	if (status >= 500)
		return RETRY_SERVER_ERROR;
	return RETRY_CONNECTION;
}

void
counters_url_host(const char *url, char *out)
{
	const char *p;
	size_t		n = 0;

	out[0] = '\0';
	if (url == NULL || strncmp(url, "https://", 8) != 0)
		return;
	p = url + 8;
	/* As the views spell it: ^https://([^/:?#]+) */
	while (n < COUNTERS_HOST_LEN - 1 && p[n] != '\0' &&
		   p[n] != '/' && p[n] != ':' && p[n] != '?' && p[n] != '#')
		n++;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* Gauges ---------------------------------------------------------------- */

static void
mark_changed(Oid dboid)
{
	DatabaseCounters *db;

	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if ((db = database_for(dboid)) != NULL)
		db->changed = true;
	LWLockRelease(shared->lock);
}

static void
counters_xact_callback(XactEvent event, void *arg)
{
	(void) arg;
	if (!changed_at_commit)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			changed_at_commit = false;
			mark_changed(MyDatabaseId);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			changed_at_commit = false;
			break;
		default:
			break;
	}
}

void
counters_queue_changed_at_commit(void)
{
	if (shared == NULL)
		return;
	if (!xact_callback_registered)
	{
		RegisterXactCallback(counters_xact_callback, NULL);
		xact_callback_registered = true;
	}
	changed_at_commit = true;
}

void
counters_queue_changed(Oid dboid)
{
	mark_changed(dboid);
}

bool
counters_gauges_wanted(Oid dboid, bool by_worker)
{
	DatabaseCounters *db;
	TimestampTz now = GetCurrentTimestamp();
	bool		wanted = false;

	if (shared == NULL)
		return false;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	db = database_for(dboid);
	if (db != NULL &&
		(!db->counting ||
		 TimestampDifferenceExceeds(db->counting_since, now, GAUGES_REFRESH_TIMEOUT_MS)))
	{
		bool		never = db->counted_at == 0;
		bool		old_enough = never ||
			TimestampDifferenceExceeds(db->counted_at, now, GAUGES_MIN_AGE_MS);
		bool		cheap = db->rows < GAUGES_CHEAP_ROWS;

		if (by_worker)
			wanted = !never && !cheap && (db->changed || old_enough) &&
				TimestampDifferenceExceeds(db->counted_at, now,
										   (int) Max(GAUGES_MIN_AGE_MS,
													 GAUGES_WORKER_SHARE * db->cost_ms));
		else if (never)
			wanted = true;
		else if (cheap)
			wanted = db->changed || old_enough;
		else
			wanted = TimestampDifferenceExceeds(db->counted_at, now,
												(int) Max(GAUGES_READER_MAX_AGE_MS,
														  2 * GAUGES_WORKER_SHARE * db->cost_ms));
		if (wanted)
		{
			db->counting = true;
			db->counting_since = now;
			/* A change from now on makes the snapshot out of date again. */
			db->changed = false;
		}
	}
	LWLockRelease(shared->lock);
	return wanted;
}

void
counters_gauges_store(Oid dboid, const GaugeRow *rows, int n, double cost_ms)
{
	HASH_SEQ_STATUS seq;
	CounterEntry *entry;
	DatabaseCounters *db;
	int			i;

	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	/* What is not in the snapshot has nothing waiting. */
	hash_seq_init(&seq, entries);
	while ((entry = hash_seq_search(&seq)) != NULL)
		if (entry->key.dboid == dboid)
			memset(&entry->row.gauges, 0, sizeof(entry->row.gauges));
	for (i = 0; i < n; i++)
	{
		CounterKey	key;

		make_key(&key, dboid, rows[i].application, rows[i].host);
		if ((entry = entry_for(&key)) != NULL)
			entry->row.gauges = rows[i];
	}
	if ((db = database_for(dboid)) != NULL)
	{
		db->counted_at = GetCurrentTimestamp();
		/* Smoothed: one slow count (a cold cache) moves it only halfway. */
		db->cost_ms = db->cost_ms > 0 ? (db->cost_ms + cost_ms) / 2 : cost_ms;
		db->rows = 0;
		for (i = 0; i < n; i++)
			db->rows += rows[i].queued + rows[i].scheduled + rows[i].retrying + rows[i].sending;
		db->counting = false;
	}
	LWLockRelease(shared->lock);
}

void
counters_gauges_abandon(Oid dboid)
{
	DatabaseCounters *db;

	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if ((db = database_for(dboid)) != NULL)
	{
		db->counting = false;
		db->changed = true;
	}
	LWLockRelease(shared->lock);
}

/* Reading ---------------------------------------------------------------- */

int
counters_read(Oid dboid, CounterRow **rows, TimestampTz *counted_at,
			  TimestampTz *stats_reset)
{
	HASH_SEQ_STATUS seq;
	CounterEntry *entry;
	DatabaseCounters *db;
	int			n = 0;

	*rows = NULL;
	*counted_at = 0;
	*stats_reset = 0;
	if (shared == NULL)
		return 0;
	LWLockAcquire(shared->lock, LW_SHARED);
	*rows = palloc(sizeof(CounterRow) * Max(hash_get_num_entries(entries), 1));
	hash_seq_init(&seq, entries);
	while ((entry = hash_seq_search(&seq)) != NULL)
		if (entry->key.dboid == dboid)
			(*rows)[n++] = entry->row;
	db = hash_search(databases, &dboid, HASH_FIND, NULL);
	*stats_reset = db != NULL ? db->stats_reset : shared->created;
	*counted_at = db != NULL ? db->counted_at : 0;
	LWLockRelease(shared->lock);
	return n;
}

TimestampTz
counters_reset(Oid dboid)
{
	HASH_SEQ_STATUS seq;
	CounterEntry *entry;
	DatabaseCounters *db;
	TimestampTz now = GetCurrentTimestamp();

	if (shared == NULL)
		return now;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, entries);
	while ((entry = hash_seq_search(&seq)) != NULL)
		if (entry->key.dboid == dboid)
		{
			/* The gauges are the queue's, not counters: they stay. */
			GaugeRow	gauges = entry->row.gauges;
			char		application[COUNTERS_APP_LEN];
			char		host[COUNTERS_HOST_LEN];


			memcpy(application, entry->row.application, sizeof(application));
			memcpy(host, entry->row.host, sizeof(host));
			memset(&entry->row, 0, sizeof(entry->row));
			memcpy(entry->row.application, application, sizeof(application));
			memcpy(entry->row.host, host, sizeof(host));
			entry->row.gauges = gauges;
		}
	if ((db = database_for(dboid)) != NULL)
		db->stats_reset = now;
	shared->full_logged = false;
	LWLockRelease(shared->lock);
	return now;
}

void
counters_forget_database(Oid dboid)
{
	HASH_SEQ_STATUS seq;
	CounterEntry *entry;

	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, entries);
	while ((entry = hash_seq_search(&seq)) != NULL)
		if (entry->key.dboid == dboid)
			(void) hash_search(entries, &entry->key, HASH_REMOVE, NULL);
	(void) hash_search(databases, &dboid, HASH_REMOVE, NULL);
	LWLockRelease(shared->lock);
}
