/*
 * queue_direct.c
 *		The queue's tables without the executor.
 *
 * A row trigger queues for every row it fires for, so this is the path a
 * busy application table pays for on each INSERT, and a broadcast stores a
 * row per recipient.  Through SPI that costs
 * an executor start-up for a statement of three parts, the tables' CHECK
 * expressions read back from the catalog, and a plan over the
 * subscriptions: several times the work of the rows themselves.  Here rows
 * are stored with table_tuple_insert and their index entries with
 * index_insert, the way COPY stores rows, into tables found once per
 * process:
 *
 * - queue_direct_to_user (webpush_send_user): the user's subscriptions by
 *   one index scan, then the message and a delivery for each;
 * - queue_direct_to_subscriptions (webpush_send_many): the listed ids that
 *   are the application's, by one pass over the table or a probe each,
 *   then the message and its deliveries, stored in batches;
 * - queue_direct_intake (webpush_notify): one row of webpush.intake, no
 *   index and no lookup; the worker makes the message after COMMIT.
 *
 * The rows are the ones queue.c's statements write.  The column rules that
 * the tables' domains and CHECK constraints state hold already: the SQL
 * functions validate every argument before queueing (validate.c,
 * sql_queue.c).
 * Sends with a dedupe_key take the SQL path, whose ON
 * CONFLICT does the deduplication, and so does any table this file does
 * not know the shape of.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "nodes/execnodes.h"
#include "optimizer/optimizer.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "applications.h"
#include "compat.h"
#include "queue_direct.h"
#include "spi_util.h"

/* At most this many indexes on one of the tables; more: the SQL path. */
#define MAX_INDEXES 8

/* An index the rows go into, with what inserting into it needs. */
typedef struct TargetIndex
{
	Oid			oid;
	IndexInfo  *info;
	ExprState  *predicate;		/* NULL: not a partial index */
	bool		unique;
} TargetIndex;

/* A table rows are stored in, and its indexes. */
typedef struct TargetTable
{
	Oid			relid;
	int			nindexes;
	TargetIndex indexes[MAX_INDEXES];
} TargetTable;

/*
 * Where the rows go, found once per process, kept in a memory context of
 * its own, and forgotten when any of these relations changes (or a
 * transaction that may have created them aborts).
 */
typedef struct QueueTables
{
	bool		valid;
	bool		usable;			/* false: not the schema this path knows */
	TargetTable messages;
	TargetTable deliveries;
	TargetTable intake;
	TargetTable history;
	Oid			subscriptions;
	Oid			subscriptions_by_user;	/* index on (application, user_id) */
	Oid			subscriptions_by_id;	/* the primary key */
	Oid			messages_by_id; /* the primary key */
	Oid			deliveries_by_message;	/* index on (message_id) */
	Oid			message_id_seq;
	/* messages' columns */
	AttrNumber	m_id,
				m_application,
				m_payload,
				m_ttl,
				m_urgency,
				m_topic,
				m_send_at,
				m_expires_at,
				m_recipients,
				m_pending,
				m_queued_by,
				m_created_at,
				m_endpoint,
				m_p256dh,
				m_auth,
				m_key_id;
	/* deliveries' columns */
	AttrNumber	d_message_id,
				d_subscription_id,
				d_claimed_by,
				d_attempts,
				d_next_attempt_at;
	/* subscriptions' columns */
	AttrNumber	s_id,
				s_application,
				s_key_id,
				s_endpoint,
				s_p256dh,
				s_auth;
	/* history's columns */
	AttrNumber	h_message_id,
				h_subscription_id,
				h_endpoint,
				h_outcome,
				h_status,
				h_attempts,
				h_reason,
				h_created_at,
				h_finished_at;
	/* intake's columns */
	AttrNumber	i_id,
				i_application,
				i_user_id,
				i_payload,
				i_ttl,
				i_urgency,
				i_queued_at;
} QueueTables;

static QueueTables tables;
static MemoryContext tables_context = NULL;
static ExprContext *predicate_context = NULL;

static bool
is_ours(Oid relid, const TargetTable *t)
{
	if (relid == t->relid)
		return true;
	for (int i = 0; i < t->nindexes; i++)
		if (relid == t->indexes[i].oid)
			return true;
	return false;
}

static void
forget_tables(Datum arg, Oid relid)
{
	(void) arg;
	if (relid == InvalidOid || is_ours(relid, &tables.messages) ||
		is_ours(relid, &tables.deliveries) || is_ours(relid, &tables.intake) ||
		is_ours(relid, &tables.history) || relid == tables.subscriptions ||
		relid == tables.subscriptions_by_user || relid == tables.subscriptions_by_id ||
		relid == tables.message_id_seq)
		tables.valid = false;
}

static void
forget_tables_at_abort(XactEvent event, void *arg)
{
	(void) arg;
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		tables.valid = false;
}

static void
forget_tables_at_subabort(SubXactEvent event, SubTransactionId sub,
						  SubTransactionId parent, void *arg)
{
	(void) sub;
	(void) parent;
	(void) arg;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		tables.valid = false;
}

/* A column's number by name; 0 when missing. */
static AttrNumber
column(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return 0;
}

static int
live_columns(TupleDesc desc)
{
	int			n = 0;

	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			n++;
	return n;
}

/*
 * The indexes of rel, as ExecOpenIndices would find them.  False when one
 * needs more than this file does (not a btree, an expression, an exclusion
 * or deferred unique constraint): the SQL path then stores the rows.
 */
static bool
load_indexes(Relation rel, TargetTable *t)
{
	List	   *oids = RelationGetIndexList(rel);
	ListCell   *lc;

	t->relid = RelationGetRelid(rel);
	if (list_length(oids) > MAX_INDEXES)
		return false;
	foreach(lc, oids)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		TargetIndex *ti = &t->indexes[t->nindexes++];
		bool		ok;

		ti->oid = RelationGetRelid(index);
		ti->info = BuildIndexInfo(index);
		ti->unique = index->rd_index->indisunique;
		ok = index->rd_rel->relam == BTREE_AM_OID &&
			ti->info->ii_Expressions == NIL &&
			ti->info->ii_ExclusionOps == NULL &&
			(!ti->unique || index->rd_index->indimmediate);
		if (ok && ti->info->ii_Predicate != NIL)
			ti->predicate = ExecInitQual((List *) expression_planner((Expr *) ti->info->ii_Predicate),
										 NULL);
		index_close(index, AccessShareLock);
		if (!ok)
			return false;
	}
	return true;
}

/* A column this file fills (target NULL: one it leaves NULL). */
typedef struct ColumnSpec
{
	const char *name;
	AttrNumber *target;
} ColumnSpec;

/*
 * Find the columns of the table that rows are stored in, and its indexes.
 * False unless the table has exactly these columns and indexes this file
 * can maintain.
 */
static bool
load_target(Oid relid, const ColumnSpec *columns, int ncolumns, TargetTable *t)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	int			known = 0;
	bool		ok;

	for (int i = 0; i < ncolumns; i++)
	{
		AttrNumber	attnum = column(desc, columns[i].name);

		known += attnum != 0;
		if (columns[i].target != NULL)
			*columns[i].target = attnum;
	}
	ok = known == ncolumns && known == live_columns(desc) && load_indexes(rel, t);
	table_close(rel, AccessShareLock);
	return ok;
}

/*
 * The subscriptions' columns, and whether the two indexes the lookups scan
 * are the plain btrees they expect: (application, user_id) and the id.
 */
static bool
load_subscriptions(void)
{
	Relation	rel = table_open(tables.subscriptions, AccessShareLock);
	Relation	by_user = index_open(tables.subscriptions_by_user, AccessShareLock);
	Relation	by_id = index_open(tables.subscriptions_by_id, AccessShareLock);
	int2vector *user_keys = &by_user->rd_index->indkey;
	bool		ok;

	tables.s_id = column(RelationGetDescr(rel), "id");
	tables.s_application = column(RelationGetDescr(rel), "application");
	tables.s_key_id = column(RelationGetDescr(rel), "key_id");
	tables.s_endpoint = column(RelationGetDescr(rel), "endpoint");
	tables.s_p256dh = column(RelationGetDescr(rel), "p256dh");
	tables.s_auth = column(RelationGetDescr(rel), "auth");
	ok = tables.s_id != 0 && tables.s_application != 0 && tables.s_key_id != 0 &&
		tables.s_endpoint != 0 && tables.s_p256dh != 0 && tables.s_auth != 0 &&
		by_user->rd_rel->relam == BTREE_AM_OID &&
		by_user->rd_index->indnkeyatts == 2 &&
		user_keys->values[0] == tables.s_application &&
		user_keys->values[1] == column(RelationGetDescr(rel), "user_id") &&
		heap_attisnull(by_user->rd_indextuple, Anum_pg_index_indpred, NULL) &&
		by_id->rd_rel->relam == BTREE_AM_OID && by_id->rd_index->indisunique &&
		by_id->rd_index->indnkeyatts == 1 &&
		by_id->rd_index->indkey.values[0] == tables.s_id;
	index_close(by_id, AccessShareLock);
	index_close(by_user, AccessShareLock);
	table_close(rel, AccessShareLock);
	return ok;
}

/* Whether index is a plain btree on the one column attnum of its table. */
static bool
btree_on(Oid indexid, AttrNumber attnum)
{
	Relation	index = index_open(indexid, AccessShareLock);
	bool		ok = index->rd_rel->relam == BTREE_AM_OID &&
		index->rd_index->indnatts == 1 &&
		index->rd_index->indkey.values[0] == attnum &&
		heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL) &&
		heap_attisnull(index->rd_indextuple, Anum_pg_index_indexprs, NULL);

	index_close(index, AccessShareLock);
	return ok;
}

/* Fill tables; tables.usable says whether this path applies. */
static void
load_tables(void)
{
	bool		isnull[10];
	Datum		oids[10];
	MemoryContext caller;

	if (tables_context == NULL)
	{
		tables_context = AllocSetContextCreate(CacheMemoryContext, "webpush queue tables",
											   ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(forget_tables, (Datum) 0);
		RegisterXactCallback(forget_tables_at_abort, NULL);
		RegisterSubXactCallback(forget_tables_at_subabort, NULL);
	}
	MemoryContextReset(tables_context);
	predicate_context = NULL;
	memset(&tables, 0, sizeof(tables));

	spi_connect_or_error();
	if (SPI_execute("SELECT pg_catalog.to_regclass('webpush.messages')::oid,"
					" pg_catalog.to_regclass('webpush.deliveries')::oid,"
					" pg_catalog.to_regclass('webpush.subscriptions')::oid,"
					" pg_catalog.to_regclass('webpush.subscriptions_user_id_idx')::oid,"
					" pg_catalog.to_regclass(pg_catalog.pg_get_serial_sequence('webpush.messages', 'id'))::oid,"
					" pg_catalog.to_regclass('webpush.intake')::oid,"
					" pg_catalog.to_regclass('webpush.subscriptions_pkey')::oid,"
					" pg_catalog.to_regclass('webpush.history')::oid,"
					" pg_catalog.to_regclass('webpush.messages_pkey')::oid,"
					" pg_catalog.to_regclass('webpush.deliveries_message_id_idx')::oid",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "webpush: could not look up the queue's tables");
	for (int i = 0; i < (int) lengthof(oids); i++)
		oids[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull[i]);
	SPI_finish();
	tables.valid = true;
	for (int i = 0; i < (int) lengthof(oids); i++)
		if (isnull[i])
			return;
	tables.subscriptions = DatumGetObjectId(oids[2]);
	tables.subscriptions_by_user = DatumGetObjectId(oids[3]);
	tables.message_id_seq = DatumGetObjectId(oids[4]);
	tables.subscriptions_by_id = DatumGetObjectId(oids[6]);
	tables.messages_by_id = DatumGetObjectId(oids[8]);
	tables.deliveries_by_message = DatumGetObjectId(oids[9]);

	caller = MemoryContextSwitchTo(tables_context);
	predicate_context = CreateStandaloneExprContext();

	{
		ColumnSpec	messages[] = {
			{"id", &tables.m_id}, {"application", &tables.m_application},
			{"payload", &tables.m_payload}, {"ttl", &tables.m_ttl},
			{"urgency", &tables.m_urgency}, {"topic", &tables.m_topic},
			{"send_at", &tables.m_send_at}, {"expires_at", &tables.m_expires_at},
			{"recipients", &tables.m_recipients}, {"pending", &tables.m_pending},
			{"queued_by", &tables.m_queued_by}, {"created_at", &tables.m_created_at},
			{"dedupe_key", NULL}, {"endpoint", &tables.m_endpoint},
			{"p256dh", &tables.m_p256dh}, {"auth", &tables.m_auth},
			{"key_id", &tables.m_key_id}
		};
		ColumnSpec	deliveries[] = {
			{"message_id", &tables.d_message_id},
			{"subscription_id", &tables.d_subscription_id},
			{"claimed_by", &tables.d_claimed_by}, {"attempts", &tables.d_attempts},
			{"next_attempt_at", &tables.d_next_attempt_at},
			{"last_status", NULL}, {"last_error", NULL}
		};
		ColumnSpec	history[] = {
			{"message_id", &tables.h_message_id},
			{"subscription_id", &tables.h_subscription_id},
			{"endpoint", &tables.h_endpoint}, {"outcome", &tables.h_outcome},
			{"status", &tables.h_status}, {"attempts", &tables.h_attempts},
			{"reason", &tables.h_reason}, {"created_at", &tables.h_created_at},
			{"finished_at", &tables.h_finished_at}
		};
		ColumnSpec	intake[] = {
			{"id", &tables.i_id}, {"application", &tables.i_application},
			{"user_id", &tables.i_user_id}, {"payload", &tables.i_payload},
			{"ttl", &tables.i_ttl}, {"urgency", &tables.i_urgency},
			{"queued_at", &tables.i_queued_at}
		};

		tables.usable =
			load_target(DatumGetObjectId(oids[0]), messages, lengthof(messages), &tables.messages) &&
			load_target(DatumGetObjectId(oids[1]), deliveries, lengthof(deliveries), &tables.deliveries) &&
			load_target(DatumGetObjectId(oids[5]), intake, lengthof(intake), &tables.intake) &&
			load_target(DatumGetObjectId(oids[7]), history, lengthof(history), &tables.history);
	}

	tables.usable = tables.usable && load_subscriptions() &&
		btree_on(tables.messages_by_id, tables.m_id) &&
		btree_on(tables.deliveries_by_message, tables.d_message_id);
	MemoryContextSwitchTo(caller);
}

/* Whether this path applies: the tables found, and of the shape it knows. */
static bool
tables_usable(void)
{
	if (!tables.valid)
		load_tables();
	return tables.usable;
}

/*
 * Begin what a statement run through SPI would do, seeing this
 * transaction's changes so far: the caller pops the snapshot at the end.
 */
static Snapshot
start_statement(void)
{
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	return GetActiveSnapshot();
}

/* The ids of spec->app's subscriptions of the user (arg, text); returns how many. */
static int
find_by_user(const MessageSpec *spec, void *arg, int64 **ids_out)
{
	const char *app = spec->app;
	text	   *user_id = (text *) arg;
	Relation	rel = table_open(tables.subscriptions, AccessShareLock);
	Relation	index = index_open(tables.subscriptions_by_user, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	IndexScanDesc scan;
	ScanKeyData keys[2];
	int			n = 0;
	int			size = 4;
	int64	   *ids = palloc(size * sizeof(int64));

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(app));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(user_id));
	keys[0].sk_collation = index->rd_indcollation[0];
	keys[1].sk_collation = index->rd_indcollation[1];
	scan = webpush_index_beginscan(rel, index, GetActiveSnapshot(), 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		id = slot_getattr(slot, tables.s_id, &isnull);

		if (isnull)
			continue;
		if (n == size)
		{
			size *= 2;
			ids = repalloc(ids, size * sizeof(int64));
		}
		ids[n++] = DatumGetInt64(id);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, NoLock);
	table_close(rel, NoLock);
	*ids_out = ids;
	return n;
}

static int
compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* Does a subscriptions row (in slot) belong to app?  Collations here are deterministic. */
static bool
of_application(TupleTableSlot *slot, const char *app, size_t app_len)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, tables.s_application, &isnull);
	text	   *t;

	if (isnull)
		return false;
	t = DatumGetTextPP(d);
	return VARSIZE_ANY_EXHDR(t) == app_len && memcmp(VARDATA_ANY(t), app, app_len) == 0;
}

/*
 * Which of the ids (arg, a bigint[]) are subscriptions of spec->app, each
 * once; returns how many.  A broadcast to most of the table reads the table
 * once and looks each row up among the sorted ids; a few ids are looked up
 * in the primary key.
 */
static int
find_by_id(const MessageSpec *spec, void *arg, int64 **ids_out)
{
	const char *app = spec->app;
	ArrayType  *array = (ArrayType *) arg;
	Relation	rel = table_open(tables.subscriptions, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	size_t		app_len = strlen(app);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			nwanted = 0;
	int64	   *wanted;
	int64	   *found;
	int			n = 0;

	deconstruct_array(array, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &nelems);
	wanted = palloc(sizeof(int64) * Max(nelems, 1));
	for (int i = 0; i < nelems; i++)
		if (!nulls[i])
			wanted[nwanted++] = DatumGetInt64(elems[i]);
	pfree(elems);
	pfree(nulls);
	qsort(wanted, nwanted, sizeof(int64), compare_int64);
	if (nwanted > 1)
	{
		int			distinct = 1;

		for (int i = 1; i < nwanted; i++)
			if (wanted[i] != wanted[distinct - 1])
				wanted[distinct++] = wanted[i];
		nwanted = distinct;
	}
	found = palloc(sizeof(int64) * Max(nwanted, 1));

	if (nwanted >= 4 * (int64) RelationGetNumberOfBlocks(rel))
	{
		TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);

		while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			bool		isnull;
			int64		id = DatumGetInt64(slot_getattr(slot, tables.s_id, &isnull));

			if (!isnull && bsearch(&id, wanted, nwanted, sizeof(int64), compare_int64) != NULL &&
				of_application(slot, app, app_len))
				found[n++] = id;
			CHECK_FOR_INTERRUPTS();
		}
		table_endscan(scan);
	}
	else if (nwanted > 0)
	{
		Relation	index = index_open(tables.subscriptions_by_id, AccessShareLock);
		IndexScanDesc scan = webpush_index_beginscan(rel, index, GetActiveSnapshot(), 1, 0);

		for (int i = 0; i < nwanted; i++)
		{
			ScanKeyData key;

			ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(wanted[i]));
			index_rescan(scan, &key, 1, NULL, 0);
			if (index_getnext_slot(scan, ForwardScanDirection, slot) &&
				of_application(slot, app, app_len))
				found[n++] = wanted[i];
			CHECK_FOR_INTERRUPTS();
		}
		index_endscan(scan);
		index_close(index, NoLock);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	pfree(wanted);
	*ids_out = found;
	return n;
}

/* A table opened for inserts; its indexes are opened when a row needs them. */
typedef struct OpenTarget
{
	const TargetTable *t;
	Relation	rel;
	Relation	indexes[MAX_INDEXES];
	TupleTableSlot *slot;
} OpenTarget;

static void
open_target(OpenTarget *o, const TargetTable *t)
{
	o->t = t;
	o->rel = table_open(t->relid, RowExclusiveLock);
	memset(o->indexes, 0, sizeof(o->indexes));
	o->slot = table_slot_create(o->rel, NULL);
}

static void
close_target(OpenTarget *o)
{
	for (int i = 0; i < o->t->nindexes; i++)
		if (o->indexes[i] != NULL)
			index_close(o->indexes[i], NoLock);
	ExecDropSingleTupleTableSlot(o->slot);
	table_close(o->rel, NoLock);
}

/* The slot emptied, every column NULL, to fill. */
static TupleTableSlot *
empty_row(TupleTableSlot *slot)
{
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, slot->tts_tupleDescriptor->natts * sizeof(bool));
	return slot;
}

static TupleTableSlot *
new_row(OpenTarget *o)
{
	return empty_row(o->slot);
}

static void
set_column(TupleTableSlot *slot, AttrNumber attnum, Datum value)
{
	slot->tts_values[attnum - 1] = value;
	slot->tts_isnull[attnum - 1] = false;
}

/*
 * The entries of a stored row in the indexes whose predicate it meets, as
 * ExecInsertIndexTuples makes them for these kinds of index.
 */
static void
insert_index_entries(OpenTarget *o, TupleTableSlot *slot)
{
	for (int i = 0; i < o->t->nindexes; i++)
	{
		const TargetIndex *ti = &o->t->indexes[i];
		Datum		values[INDEX_MAX_KEYS];
		bool		isnull[INDEX_MAX_KEYS];

		if (!ti->info->ii_ReadyForInserts)
			continue;
		if (ti->predicate != NULL)
		{
			bool		meets;

			predicate_context->ecxt_scantuple = slot;
			meets = ExecQual(ti->predicate, predicate_context);
			ResetExprContext(predicate_context);
			predicate_context->ecxt_scantuple = NULL;
			if (!meets)
				continue;
		}
		if (o->indexes[i] == NULL)
			o->indexes[i] = index_open(ti->oid, RowExclusiveLock);
		FormIndexDatum(ti->info, slot, NULL, values, isnull);
		webpush_index_insert(o->indexes[i], values, isnull, &slot->tts_tid, o->rel,
							 ti->unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
							 false, ti->info);
	}
}

/* Store the row new_row() began, and its index entries. */
static void
insert_row(OpenTarget *o)
{
	ExecStoreVirtualTuple(o->slot);
	table_tuple_insert(o->rel, o->slot, GetCurrentCommandId(true), 0, NULL);
	insert_index_entries(o, o->slot);
}

/* A delivery row in slot, ready to store. */
static void
delivery_row(TupleTableSlot *slot, int64 message_id, int64 subscription_id)
{
	empty_row(slot);
	set_column(slot, tables.d_message_id, Int64GetDatum(message_id));
	set_column(slot, tables.d_subscription_id, Int64GetDatum(subscription_id));
}

/* Deliveries stored per table_multi_insert call (as COPY batches rows). */
#define DELIVERY_BATCH 1000

/*
 * A delivery of message_id to each of the n subscriptions: one by one for a
 * few, in batches through table_multi_insert (fewer WAL records and page
 * locks) for a broadcast.
 */
static void
insert_deliveries(int64 message_id, const int64 *subscriptions, int n)
{
	OpenTarget	o;
	TupleTableSlot **slots;
	BulkInsertState bistate;
	MemoryContext batch_context;
	MemoryContext caller;
	int			nslots = Min(n, DELIVERY_BATCH);

	open_target(&o, &tables.deliveries);
	if (n < 8)
	{
		for (int i = 0; i < n; i++)
		{
			delivery_row(o.slot, message_id, subscriptions[i]);
			insert_row(&o);
		}
		close_target(&o);
		return;
	}

	slots = palloc(sizeof(TupleTableSlot *) * nslots);
	for (int i = 0; i < nslots; i++)
		slots[i] = table_slot_create(o.rel, NULL);
	bistate = GetBulkInsertState();
	batch_context = AllocSetContextCreate(CurrentMemoryContext, "webpush deliveries batch",
										  ALLOCSET_DEFAULT_SIZES);
	for (int done = 0; done < n; done += nslots)
	{
		int			batch = Min(nslots, n - done);

		caller = MemoryContextSwitchTo(batch_context);
		for (int i = 0; i < batch; i++)
		{
			delivery_row(slots[i], message_id, subscriptions[done + i]);
			ExecStoreVirtualTuple(slots[i]);
		}
		table_multi_insert(o.rel, slots, batch, GetCurrentCommandId(true), 0, bistate);
		for (int i = 0; i < batch; i++)
			insert_index_entries(&o, slots[i]);
		MemoryContextSwitchTo(caller);
		MemoryContextReset(batch_context);
		CHECK_FOR_INTERRUPTS();
	}
	FreeBulkInsertState(bistate);
	for (int i = 0; i < nslots; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	MemoryContextDelete(batch_context);
	close_target(&o);
}

/* A send this path can store: no dedupe_key (ON CONFLICT does that), an application. */
static bool
direct_applies(const MessageSpec *spec)
{
	return spec->dedupe_key == NULL && spec->app != NULL;
}

bool
queue_direct_ready(const MessageSpec *spec)
{
	return tables.valid && tables.usable && direct_applies(spec) &&
		app_subject_known(spec->app) && !OidIsValid(queue_limited_role());
}

int64
queue_direct_intake(text *user_id, const MessageSpec *spec)
{
	OpenTarget	intake;
	TupleTableSlot *row;
	int64		message_id;

	Assert(queue_direct_ready(spec) && !spec->has_send_at && !spec->opts.has_topic);

	open_target(&intake, &tables.intake);
	message_id = nextval_internal(tables.message_id_seq, false);
	row = new_row(&intake);
	set_column(row, tables.i_id, Int64GetDatum(message_id));
	set_column(row, tables.i_application, CStringGetTextDatum(spec->app));
	set_column(row, tables.i_user_id, PointerGetDatum(user_id));
	if (spec->payload != NULL)
		set_column(row, tables.i_payload, PointerGetDatum(spec->payload));
	set_column(row, tables.i_ttl, Int32GetDatum(spec->opts.ttl));
	set_column(row, tables.i_urgency, CStringGetTextDatum(spec->opts.urgency));
	set_column(row, tables.i_queued_at, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	insert_row(&intake);
	close_target(&intake);
	return message_id;
}

/*
 * The message (message_id 0: a new id), and a delivery for each of the n
 * recipients; *out says which.  Called with the snapshot the recipients
 * were found with.
 */
static void
store_message(const MessageSpec *spec, Oid role, int64 message_id, TimestampTz created_at,
			  TimestampTz send_at, TimestampTz expires_at,
			  const int64 *recipients, int n, QueuedMessage *out)
{
	OpenTarget	messages;
	TupleTableSlot *row;

	open_target(&messages, &tables.messages);
	if (message_id == 0)
		message_id = nextval_internal(tables.message_id_seq, false);
	row = new_row(&messages);
	set_column(row, tables.m_id, Int64GetDatum(message_id));
	set_column(row, tables.m_application, CStringGetTextDatum(spec->app));
	if (spec->payload != NULL)
		set_column(row, tables.m_payload, PointerGetDatum(spec->payload));
	set_column(row, tables.m_ttl, Int32GetDatum(spec->opts.ttl));
	set_column(row, tables.m_urgency, CStringGetTextDatum(spec->opts.urgency));
	if (spec->opts.has_topic)
		set_column(row, tables.m_topic, CStringGetTextDatum(spec->opts.topic));
	set_column(row, tables.m_send_at, TimestampTzGetDatum(send_at));
	set_column(row, tables.m_expires_at, TimestampTzGetDatum(expires_at));
	set_column(row, tables.m_recipients, Int32GetDatum(n));
	set_column(row, tables.m_pending, BoolGetDatum(true));
	if (OidIsValid(role))
		set_column(row, tables.m_queued_by, ObjectIdGetDatum(role));
	set_column(row, tables.m_created_at, TimestampTzGetDatum(created_at));
	insert_row(&messages);
	close_target(&messages);

	insert_deliveries(message_id, recipients, n);
	out->message_id = message_id;
	out->recipients = n;
}

/* A lookup of recipients: find_by_user or find_by_id. */
typedef int (*FindRecipients) (const MessageSpec *spec, void *arg, int64 **ids);

/*
 * The direct path's common part: checks, the snapshot a statement would
 * take, the lookup, and the rows.
 */
static bool
queue_direct(const MessageSpec *spec, Oid role, FindRecipients find, void *arg,
			 QueuedMessage *out)
{
	TimestampTz send_at = spec->has_send_at ? spec->send_at : GetCurrentTransactionStartTimestamp();
	TimestampTz expires_at;
	int64	   *recipients;
	int			n;

	if (!direct_applies(spec) || !tables_usable())
		return false;

	if (pg_add_s64_overflow(send_at, (int64) spec->opts.ttl * USECS_PER_SEC, &expires_at) ||
		!IS_VALID_TIMESTAMP(expires_at))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range"),
				 errdetail("send_at plus the TTL is past the last time PostgreSQL can store.")));

	start_statement();
	n = find(spec, arg, &recipients);
	out->message_id = 0;
	out->recipients = 0;
	if (n > 0)
		store_message(spec, role, 0, GetCurrentTransactionStartTimestamp(), send_at, expires_at,
					  recipients, n, out);
	PopActiveSnapshot();
	pfree(recipients);
	return true;
}

bool
queue_direct_to_user(text *user_id, const MessageSpec *spec, Oid role, QueuedMessage *out)
{
	return queue_direct(spec, role, find_by_user, user_id, out);
}

bool
queue_direct_to_subscriptions(ArrayType *ids, const MessageSpec *spec, Oid role,
							  QueuedMessage *out)
{
	return queue_direct(spec, role, find_by_id, ids, out);
}
