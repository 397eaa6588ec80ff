/*
 * insert.c
 *		Rows of the queue's tables inserted through the executor's own
 *		helpers, without a SQL statement.
 *
 * A row trigger queues for every row it fires for, so this is the path a
 * busy application table pays for on each INSERT, and a broadcast stores a
 * row per recipient.  Through SPI each send costs an executor start-up for
 * a statement of three parts and a plan over the subscriptions: several
 * times the work of the rows themselves.  Here the rows go in through the
 * helpers logical replication's apply worker and COPY use, on an EState
 * of their own:
 *
 * - queue_insert_intake (webpush_notify): one row of webpush.intake and no
 *   lookup; the worker makes the message after COMMIT (claim.c);
 * - queue_insert_to_user (webpush_send_user): the user's subscriptions by
 *   one index scan, then the message and a delivery for each;
 * - queue_insert_to_subscriptions (webpush_send_many): the listed ids that
 *   are the application's, by one pass over the table or a probe each,
 *   then the message and its deliveries, the deliveries in batches
 *   (table_multi_insert, as COPY stores rows).
 *
 * So everything an INSERT enforces holds: BEFORE and AFTER ROW triggers
 * (foreign keys among them), NOT NULL and CHECK constraints, unique and
 * exclusion indexes, the domains of the columns set here (domain_check),
 * and the defaults of the columns not set here.  Which columns are which
 * is settled once per version of each table (the relcache says when one
 * changes, insert_target.c): each column set here is found by name, and
 * its base type must be the type of the value set.  A table where that fails, or with what
 * these helpers do not run (rules, row-level security that applies to the
 * role inserting, statement triggers and transition tables, partitioning),
 * takes enqueue.c's statement, where
 * PostgreSQL coerces or refuses the values itself; so do sends with a
 * dedupe_key, whose ON CONFLICT does the deduplication, and sends at a
 * local time, whose deliveries each have their own time.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "optimizer/optimizer.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "rewrite/rewriteHandler.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "support/compat.h"
#include "queue/insert.h"
#include "queue/insert_target.h"
/* Inserting ------------------------------------------------------------- */

/* One call's inserts: an EState whose result relations are the tables. */
typedef struct Inserts
{
	EState	   *estate;
	MemoryContext caller;
	ResultRelInfo *rris;
	TargetTable *tables[2];
	ExprState **defaults[2];	/* each table's defaults, ready to run */
} Inserts;

/*
 * The CHECK constraints of rri's table, ready to run, from their planned
 * expressions: what ExecRelCheck would make at the first row, without
 * reading them back from text and planning them.  Only when the table
 * still has the constraints t was loaded with (the relcache's check array,
 * in its order); else ExecRelCheck makes them.  The states are the
 * EState's, as the executor's are: one kept across calls would keep what
 * its evaluation caches for one query (a whole row's type, a SQL
 * function's plan).
 */
static void
start_checks(ResultRelInfo *rri, const TargetTable *t)
{
	TupleConstr *constr = RelationGetDescr(rri->ri_RelationDesc)->constr;
	ExprState **states;

	if (t->checks == NULL || constr == NULL || constr->num_check != t->nchecks)
		return;
	states = palloc0(sizeof(ExprState *) * t->nchecks);
	for (int i = 0; i < t->nchecks; i++)
		if (t->checks[i] != NULL)
			states[i] = ExecInitExpr(t->checks[i], NULL);
	webpush_check_exprs(rri) = states;
}

/*
 * Begin inserting into the n tables (opened by open_target, closed by
 * end_inserts): the executor state the apply worker sets up, the indexes
 * opened, a query level for the AFTER triggers.  Until end_inserts, memory
 * is allocated in the EState's, as while an executor runs.
 */
static void
begin_inserts(Inserts *ins, TargetTable **tables, Relation *rels, int n)
{
	EState	   *estate = CreateExecutorState();

	Assert(n <= lengthof(ins->tables));
	ins->caller = MemoryContextSwitchTo(estate->es_query_cxt);
	ins->estate = estate;
	ins->rris = palloc0(sizeof(ResultRelInfo) * n);
	webpush_init_result_relations(estate, rels, ins->rris, n);
	estate->es_output_cid = GetCurrentCommandId(true);
	for (int i = 0; i < n; i++)
	{
		TargetTable *t = tables[i];

		ins->tables[i] = t;
		ExecOpenIndices(&ins->rris[i], false);
		ins->defaults[i] = palloc(sizeof(ExprState *) * Max(t->ndefaults, 1));
		for (int k = 0; k < t->ndefaults; k++)
			ins->defaults[i][k] = ExecInitExpr(t->defaults[k].expr, NULL);
		start_checks(&ins->rris[i], t);
	}
	AfterTriggerBeginQuery();
}

/* The AFTER triggers fired, and everything closed. */
static void
end_inserts(Inserts *ins)
{
	AfterTriggerEndQuery(ins->estate);
	webpush_close_result_relations(ins->estate);
	ExecResetTupleTable(ins->estate->es_tupleTable, false);
	MemoryContextSwitchTo(ins->caller);
	FreeExecutorState(ins->estate);
}

/* A slot for table i's rows, freed with the EState. */
static TupleTableSlot *
new_slot(Inserts *ins, int i)
{
	Relation	rel = ins->rris[i].ri_RelationDesc;

	return ExecInitExtraTupleSlot(ins->estate, RelationGetDescr(rel), table_slot_callbacks(rel));
}

/*
 * Begin a row of table i in slot: every column NULL, then each default.
 * The values live in the per-tuple memory, which the caller resets once
 * the row is stored.
 */
static void
begin_row(Inserts *ins, int i, TupleTableSlot *slot)
{
	TargetTable *t = ins->tables[i];
	ExprContext *econtext = GetPerTupleExprContext(ins->estate);

	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, slot->tts_tupleDescriptor->natts * sizeof(bool));
	for (int k = 0; k < t->ndefaults; k++)
	{
		AttrNumber	attnum = t->defaults[k].attnum;

		slot->tts_values[attnum - 1] =
			ExecEvalExprSwitchContext(ins->defaults[i][k], econtext, &slot->tts_isnull[attnum - 1]);
	}
}

/* A column of the row, through its domain's constraints. */
static void
set_column(TargetTable *t, TupleTableSlot *slot, int column, Datum value, bool isnull)
{
	TargetColumn *c = &t->columns[column];

	if (OidIsValid(c->domain))
		domain_check(value, isnull, c->domain, &c->domain_state, t->cxt);
	slot->tts_values[c->attnum - 1] = value;
	slot->tts_isnull[c->attnum - 1] = isnull;
}

/*
 * Insert the row in slot into table i, as an INSERT would; false when a
 * BEFORE ROW trigger skipped it.
 */
static bool
insert_row(Inserts *ins, int i, TupleTableSlot *slot)
{
	ExecStoreVirtualTuple(slot);
	webpush_simple_insert(&ins->rris[i], ins->estate, slot);
	/* The table access method sets the row's tid as it stores it. */
	return ItemPointerIsValid(&slot->tts_tid);
}

/* Deliveries stored per table_multi_insert call (as COPY batches rows). */
#define DELIVERY_BATCH 1000

static void
delivery_row(Inserts *ins, int i, TupleTableSlot *slot, Datum message_id, bool message_id_null,
			 int64 subscription_id)
{
	begin_row(ins, i, slot);
	set_column(&target_deliveries, slot, D_MESSAGE_ID, message_id, message_id_null);
	set_column(&target_deliveries, slot, D_SUBSCRIPTION_ID, Int64GetDatum(subscription_id), false);
}

/*
 * A delivery of the message to each of the n subscriptions, into table i:
 * one by one for a few, or when the table has what a batch cannot keep
 * (BEFORE ROW triggers, volatile defaults, generated columns); else in
 * batches, as COPY does: each row's constraints checked, the batch stored
 * by table_multi_insert (fewer WAL records and page locks), then each
 * row's index entries, with their uniqueness checks, and AFTER ROW
 * triggers.
 */
static void
insert_deliveries(Inserts *ins, int i, Datum message_id, bool message_id_null,
				  const int64 *subscriptions, int n)
{
	ResultRelInfo *rri = &ins->rris[i];
	Relation	rel = rri->ri_RelationDesc;
	EState	   *estate = ins->estate;
	TupleTableSlot **slots;
	BulkInsertState bistate;
	int			nslots = Min(n, DELIVERY_BATCH);

	if (n < 8 || ins->tables[i]->row_at_a_time)
	{
		TupleTableSlot *slot = new_slot(ins, i);

		for (int k = 0; k < n; k++)
		{
			delivery_row(ins, i, slot, message_id, message_id_null, subscriptions[k]);
			(void) insert_row(ins, i, slot);
			ResetPerTupleExprContext(estate);
			CHECK_FOR_INTERRUPTS();
		}
		return;
	}

	slots = palloc(sizeof(TupleTableSlot *) * nslots);
	for (int k = 0; k < nslots; k++)
		slots[k] = new_slot(ins, i);
	bistate = GetBulkInsertState();
	for (int done = 0; done < n; done += nslots)
	{
		int			batch = Min(nslots, n - done);
		MemoryContext caller;

		for (int k = 0; k < batch; k++)
		{
			delivery_row(ins, i, slots[k], message_id, message_id_null, subscriptions[done + k]);
			ExecStoreVirtualTuple(slots[k]);
			if (rel->rd_att->constr)
				ExecConstraints(rri, slots[k], estate);
			/* The row's own copy, out of the per-tuple memory reset next. */
			ExecMaterializeSlot(slots[k]);
			ResetPerTupleExprContext(estate);
		}

		/* table_multi_insert may leak: in the per-tuple memory, as COPY does. */
		caller = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
		table_multi_insert(rel, slots, batch, estate->es_output_cid, 0, bistate);
		MemoryContextSwitchTo(caller);
		ResetPerTupleExprContext(estate);

		for (int k = 0; k < batch; k++)
		{
			List	   *recheck = NIL;

			if (rri->ri_NumIndices > 0)
				recheck = webpush_insert_index_tuples(rri, slots[k], estate);
			ExecARInsertTriggers(estate, rri, slots[k], recheck, NULL);
			list_free(recheck);
			ExecClearTuple(slots[k]);
			ResetPerTupleExprContext(estate);
		}
		CHECK_FOR_INTERRUPTS();
	}
	FreeBulkInsertState(bistate);
}

/*
 * The message, and a delivery for each of the n recipients; *out says
 * which message (0: a BEFORE ROW trigger of webpush.messages skipped it,
 * and with it the deliveries, as the statement's RETURNING would find no
 * row).  Called with the snapshot the recipients were found with.
 */
static void
store_message(Relation *rels, const MessageSpec *spec, Oid role, TimestampTz send_at,
			  TimestampTz expires_at, const int64 *recipients, int n, QueuedMessage *out)
{
	TargetTable *tables[2] = {&target_messages, &target_deliveries};
	Inserts		ins;
	TupleTableSlot *row;
	Datum		id;
	bool		id_null;

	begin_inserts(&ins, tables, rels, 2);
	row = new_slot(&ins, 0);
	begin_row(&ins, 0, row);
	set_column(&target_messages, row, M_APPLICATION, CStringGetTextDatum(spec->app), false);
	set_column(&target_messages, row, M_PAYLOAD, PointerGetDatum(spec->payload), spec->payload == NULL);
	set_column(&target_messages, row, M_TTL, Int32GetDatum(spec->opts.ttl), false);
	set_column(&target_messages, row, M_URGENCY, CStringGetTextDatum(spec->opts.urgency), false);
	set_column(&target_messages, row, M_TOPIC,
			   spec->opts.has_topic ? CStringGetTextDatum(spec->opts.topic) : (Datum) 0,
			   !spec->opts.has_topic);
	set_column(&target_messages, row, M_QUEUED_BY, ObjectIdGetDatum(role), !OidIsValid(role));
	set_column(&target_messages, row, M_SEND_AT, TimestampTzGetDatum(send_at), false);
	set_column(&target_messages, row, M_EXPIRES_AT, TimestampTzGetDatum(expires_at), false);
	set_column(&target_messages, row, M_DEDUPE_KEY, (Datum) 0, true);
	set_column(&target_messages, row, M_RECIPIENTS, Int32GetDatum(n), false);

	out->message_id = 0;
	out->recipients = n;
	if (insert_row(&ins, 0, row))
	{
		/* The id as stored: a BEFORE ROW trigger may have changed it. */
		id = slot_getattr(row, target_messages.key_attnum, &id_null);
		if (!id_null)
			out->message_id = DatumGetInt64(id);
		ResetPerTupleExprContext(ins.estate);
		insert_deliveries(&ins, 1, Int64GetDatum(out->message_id), id_null, recipients, n);
	}
	end_inserts(&ins);
}

/* Finding the recipients -------------------------------------------------- */

/* The ids of spec->app's subscriptions of the user (arg, text); returns how many. */
static int
find_by_user(const MessageSpec *spec, void *arg, int64 **ids_out)
{
	const char *app = spec->app;
	text	   *user_id = (text *) arg;
	Relation	rel = table_open(target_subscriptions.relid, AccessShareLock);
	Relation	index = index_open(target_subscriptions.by_user, AccessShareLock);
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
		Datum		id = slot_getattr(slot, target_subscriptions.id, &isnull);

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

/*
 * Does a subscriptions row (in slot) belong to app?  The column's
 * collation is deterministic (load_subscriptions): equal is bytewise.
 */
static bool
of_application(TupleTableSlot *slot, const char *app, size_t app_len)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, target_subscriptions.application, &isnull);
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
	Relation	rel = table_open(target_subscriptions.relid, AccessShareLock);
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
			int64		id = DatumGetInt64(slot_getattr(slot, target_subscriptions.id, &isnull));

			if (!isnull && bsearch(&id, wanted, nwanted, sizeof(int64), compare_int64) != NULL &&
				of_application(slot, app, app_len))
				found[n++] = id;
			CHECK_FOR_INTERRUPTS();
		}
		table_endscan(scan);
	}
	else if (nwanted > 0)
	{
		Relation	index = index_open(target_subscriptions.by_id, AccessShareLock);
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

/* The SQL functions' side ------------------------------------------------- */

/* A lookup of recipients: find_by_user or find_by_id. */
typedef int (*FindRecipients) (const MessageSpec *spec, void *arg, int64 **ids);

/*
 * The common part of a send: the tables opened and checked, the snapshot a
 * statement would take, the lookup, and the rows.
 */
static bool
queue_insert(const MessageSpec *spec, Oid role, FindRecipients find, void *arg,
			 QueuedMessage *out)
{
	TimestampTz send_at = spec->has_send_at ? spec->send_at : GetCurrentTransactionStartTimestamp();
	TimestampTz expires_at;
	Relation	rels[2];
	int64	   *recipients;
	int			n;

	if (spec->dedupe_key != NULL || spec->has_local_time || spec->app == NULL ||
		!target_subscriptions_usable())
		return false;
	if (!target_open(&target_messages, &rels[0]))
		return false;
	if (!target_open(&target_deliveries, &rels[1]))
	{
		table_close(rels[0], NoLock);
		return false;
	}

	if (pg_add_s64_overflow(send_at, (int64) spec->opts.ttl * USECS_PER_SEC, &expires_at) ||
		!IS_VALID_TIMESTAMP(expires_at))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range"),
				 errdetail("send_at plus the TTL is past the last time PostgreSQL can store.")));

	/* As a statement run through SPI: this transaction's changes so far seen. */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	n = find(spec, arg, &recipients);
	out->message_id = 0;
	out->recipients = 0;
	if (n > 0)
		store_message(rels, spec, role, send_at, expires_at, recipients, n, out);
	else
	{
		table_close(rels[1], NoLock);
		table_close(rels[0], NoLock);
	}
	PopActiveSnapshot();
	pfree(recipients);
	return true;
}

/*
 * fn(arg), with the tables marked busy until it returns or fails; false,
 * without running it, when they already are (target_tables_busy).
 */
static bool
with_tables(bool (*fn) (void *arg), void *arg)
{
	volatile bool done = false;

	if (target_tables_busy)
		return false;
	target_tables_busy = true;
	PG_TRY();
	{
		done = fn(arg);
	}
	PG_FINALLY();
	{
		target_tables_busy = false;
	}
	PG_END_TRY();
	return done;
}

/* A send's arguments, for with_tables. */
typedef struct SendCall
{
	const MessageSpec *spec;
	Oid			role;
	FindRecipients find;
	void	   *recipients;
	QueuedMessage *out;
} SendCall;

static bool
send_call(void *arg)
{
	SendCall   *c = arg;

	return queue_insert(c->spec, c->role, c->find, c->recipients, c->out);
}

bool
queue_insert_to_user(text *user_id, const MessageSpec *spec, Oid role, QueuedMessage *out)
{
	SendCall	call = {spec, role, find_by_user, user_id, out};

	return with_tables(send_call, &call);
}

bool
queue_insert_to_subscriptions(ArrayType *ids, const MessageSpec *spec, Oid role,
							  QueuedMessage *out)
{
	SendCall	call = {spec, role, find_by_id, ids, out};

	return with_tables(send_call, &call);
}

/*
 * The row of webpush.intake (rel, opened by the caller); the message's id
 * as stored, or 0 when a BEFORE ROW trigger skipped the row.
 */
static int64
store_intake(Relation rel, text *user_id, const MessageSpec *spec)
{
	TargetTable *tables[1] = {&target_intake};
	Inserts		ins;
	TupleTableSlot *row;
	Datum		id;
	bool		id_null = false;
	int64		stored_id = 0;

	Assert(spec->app != NULL && spec->dedupe_key == NULL && !spec->has_send_at &&
		   !spec->opts.has_topic && !spec->has_local_time);

	begin_inserts(&ins, tables, &rel, 1);
	/*
	 * The message's id to be: what webpush.messages' default gives.  An
	 * identity's (or a serial's) next value is what the executor would
	 * compute for it, without an expression to set up for the one row.
	 */
	if (IsA(target_messages.key_default, NextValueExpr) &&
		((NextValueExpr *) target_messages.key_default)->typeId == INT8OID)
		id = Int64GetDatum(nextval_internal(((NextValueExpr *) target_messages.key_default)->seqid, false));
	else
		id = ExecEvalExprSwitchContext(ExecInitExpr(target_messages.key_default, NULL),
									   GetPerTupleExprContext(ins.estate), &id_null);
	row = new_slot(&ins, 0);
	begin_row(&ins, 0, row);
	set_column(&target_intake, row, I_ID, id, id_null);
	set_column(&target_intake, row, I_APPLICATION, CStringGetTextDatum(spec->app), false);
	set_column(&target_intake, row, I_USER_ID, PointerGetDatum(user_id), false);
	set_column(&target_intake, row, I_PAYLOAD, PointerGetDatum(spec->payload), spec->payload == NULL);
	set_column(&target_intake, row, I_TTL, Int32GetDatum(spec->opts.ttl), false);
	set_column(&target_intake, row, I_URGENCY, CStringGetTextDatum(spec->opts.urgency), false);
	set_column(&target_intake, row, I_QUEUED_AT,
			   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false);
	set_column(&target_intake, row, I_SOURCE, PointerGetDatum(spec->source), spec->source == NULL);
	if (insert_row(&ins, 0, row))
	{
		/* The id as stored: a BEFORE ROW trigger may have changed it. */
		id = slot_getattr(row, target_intake.columns[I_ID].attnum, &id_null);
		stored_id = id_null ? 0 : DatumGetInt64(id);
	}
	end_inserts(&ins);
	return stored_id;
}

/* A trigger's row of webpush.intake, for with_tables. */
typedef struct IntakeCall
{
	text	   *user_id;
	const MessageSpec *spec;
	int64	   *id;
} IntakeCall;

static bool
intake_call(void *arg)
{
	IntakeCall *c = arg;
	Relation	rel;

	if (!target_messages.valid)
		target_load(&target_messages);
	if (target_messages.key_default == NULL || !target_open(&target_intake, &rel))
		return false;
	*c->id = store_intake(rel, c->user_id, c->spec);
	return true;
}

/*
 * Only the extension's own parts run: the messages' identity (a sequence's
 * next value, no privilege checked) and the domains.
 */
static bool
plain_intake_call(void *arg)
{
	IntakeCall *c = arg;
	Relation	rel;

	if (!target_intake.valid || !target_intake.usable || !target_intake.plain || !target_messages.valid ||
		target_messages.key_default == NULL || !IsA(target_messages.key_default, NextValueExpr))
		return false;
	rel = table_open(target_intake.relid, RowExclusiveLock);
	if (!target_intake.valid || !target_messages.valid)
	{
		/* Changed meanwhile: loaded again, as the function's owner. */
		table_close(rel, NoLock);
		return false;
	}
	*c->id = store_intake(rel, c->user_id, c->spec);
	return true;
}

bool
queue_insert_intake(text *user_id, const MessageSpec *spec, int64 *id)
{
	IntakeCall	call = {user_id, spec, id};

	return with_tables(intake_call, &call);
}

bool
queue_insert_intake_plain(text *user_id, const MessageSpec *spec, int64 *id)
{
	IntakeCall	call = {user_id, spec, id};

	return with_tables(plain_intake_call, &call);
}
