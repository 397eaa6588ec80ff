/*
 * queue_insert.c
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
 *   lookup; the worker makes the message after COMMIT (queue.c);
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
 * changes): each column set here is found by name, and its base type must
 * be the type of the value set.  A table where that fails, or with what
 * these helpers do not run (rules, row-level security, statement triggers
 * and transition tables, partitioning), takes queue.c's statement, where
 * PostgreSQL coerces or refuses the values itself; so do sends with a
 * dedupe_key, whose ON CONFLICT does the deduplication.
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

#include "compat.h"
#include "queue_insert.h"

/* A column this file sets, found by name. */
typedef struct TargetColumn
{
	const char *name;
	Oid			type;			/* the value's type: the column's base type */
	AttrNumber	attnum;
	Oid			domain;			/* the column's domain; InvalidOid: none */
	void	   *domain_state;	/* domain_check's, in the table's context */
} TargetColumn;

/* A column this file leaves to its default, as an INSERT does. */
typedef struct ColumnDefault
{
	AttrNumber	attnum;
	Expr	   *expr;			/* planned */
} ColumnDefault;

/*
 * A table rows are inserted into, as it is now: found, checked and its
 * defaults planned once per version of it, kept in a memory context of
 * its own, and forgotten when the relcache says it changed (or a
 * transaction that may have changed it aborts).
 */
typedef struct TargetTable
{
	const char *relname;		/* in schema webpush */
	TargetColumn *columns;
	int			ncolumns;
	const char *key;			/* a bigint column read back, or NULL */
	bool		valid;
	bool		usable;			/* false: queue.c's statement inserts */
	bool		row_at_a_time;	/* no batches (BEFORE ROW triggers, volatile
								 * defaults, generated columns) */
	bool		plain;			/* an insert runs nothing of anyone's: no
								 * trigger, CHECK, default, generated column
								 * or index of anything but built-in parts */
	Oid			relid;
	AttrNumber	key_attnum;
	Expr	   *key_default;	/* the key's default, planned; NULL: none */
	ColumnDefault *defaults;
	int			ndefaults;
	Expr	  **checks;			/* the CHECK constraints, planned, in the
								 * relcache's order (NULL: one not enforced);
								 * NULL: left to the executor */
	int			nchecks;
	MemoryContext cxt;
} TargetTable;

enum
{
	I_ID, I_APPLICATION, I_USER_ID, I_PAYLOAD, I_TTL, I_URGENCY, I_QUEUED_AT, I_SOURCE, I_COLUMNS
};

static TargetColumn intake_columns[I_COLUMNS] = {
	[I_ID] = {.name = "id", .type = INT8OID},
	[I_APPLICATION] = {.name = "application", .type = TEXTOID},
	[I_USER_ID] = {.name = "user_id", .type = TEXTOID},
	[I_PAYLOAD] = {.name = "payload", .type = BYTEAOID},
	[I_TTL] = {.name = "ttl", .type = INT4OID},
	[I_URGENCY] = {.name = "urgency", .type = TEXTOID},
	[I_QUEUED_AT] = {.name = "queued_at", .type = TIMESTAMPTZOID},
	[I_SOURCE] = {.name = "source", .type = TEXTOID},
};

/* What queue.c's statements set; id, pending and created_at are defaults. */
enum
{
	M_APPLICATION, M_PAYLOAD, M_TTL, M_URGENCY, M_TOPIC, M_QUEUED_BY, M_SEND_AT,
	M_EXPIRES_AT, M_DEDUPE_KEY, M_RECIPIENTS, M_COLUMNS
};

static TargetColumn message_columns[M_COLUMNS] = {
	[M_APPLICATION] = {.name = "application", .type = TEXTOID},
	[M_PAYLOAD] = {.name = "payload", .type = BYTEAOID},
	[M_TTL] = {.name = "ttl", .type = INT4OID},
	[M_URGENCY] = {.name = "urgency", .type = TEXTOID},
	[M_TOPIC] = {.name = "topic", .type = TEXTOID},
	[M_QUEUED_BY] = {.name = "queued_by", .type = OIDOID},
	[M_SEND_AT] = {.name = "send_at", .type = TIMESTAMPTZOID},
	[M_EXPIRES_AT] = {.name = "expires_at", .type = TIMESTAMPTZOID},
	[M_DEDUPE_KEY] = {.name = "dedupe_key", .type = TEXTOID},
	[M_RECIPIENTS] = {.name = "recipients", .type = INT4OID},
};

enum
{
	D_MESSAGE_ID, D_SUBSCRIPTION_ID, D_COLUMNS
};

static TargetColumn delivery_columns[D_COLUMNS] = {
	[D_MESSAGE_ID] = {.name = "message_id", .type = INT8OID},
	[D_SUBSCRIPTION_ID] = {.name = "subscription_id", .type = INT8OID},
};

static TargetTable intake = {
	.relname = "intake", .columns = intake_columns, .ncolumns = I_COLUMNS
};
static TargetTable messages = {
	.relname = "messages", .columns = message_columns, .ncolumns = M_COLUMNS, .key = "id"
};
static TargetTable deliveries = {
	.relname = "deliveries", .columns = delivery_columns, .ncolumns = D_COLUMNS
};

/*
 * The subscriptions, read to find the recipients: the two indexes the
 * lookups scan, and the columns they read.
 */
static struct
{
	bool		valid;
	bool		usable;
	Oid			relid;
	Oid			by_user;		/* btree on (application, user_id) */
	Oid			by_id;			/* the primary key */
	AttrNumber	id;
	AttrNumber	application;
} subscriptions;

static bool callbacks_registered = false;

/*
 * Whether this file's tables are in use: being loaded, or inserted into.
 * What runs meanwhile may send again: a DBA's trigger or CHECK on a queue
 * table, a function folded as a constraint is planned.  Such a send takes
 * queue.c's statement instead (each entry point returns false), so that
 * nothing the outer one runs is loaded again and freed under it.
 */
static bool tables_busy = false;

static void
forget_all(void)
{
	intake.valid = false;
	messages.valid = false;
	deliveries.valid = false;
	subscriptions.valid = false;
}

static void
forget_relation(Datum arg, Oid relid)
{
	(void) arg;
	if (relid == InvalidOid)
		forget_all();
	if (relid == intake.relid)
		intake.valid = false;
	if (relid == messages.relid)
		messages.valid = false;
	if (relid == deliveries.relid)
		deliveries.valid = false;
	if (relid == subscriptions.relid || relid == subscriptions.by_user ||
		relid == subscriptions.by_id)
		subscriptions.valid = false;
}

/*
 * A type or a function changed: a domain's default, which a column of that
 * domain without a default of its own takes, is planned into the defaults,
 * and planning inlines SQL functions and folds immutable calls in the
 * defaults and the CHECK constraints.
 */
static void
forget_at_catalog_change(Datum arg, int cacheid, uint32 hashvalue)
{
	(void) arg;
	(void) cacheid;
	(void) hashvalue;
	forget_all();
}

static void
forget_at_abort(XactEvent event, void *arg)
{
	(void) arg;
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		forget_all();
}

static void
forget_at_subabort(SubXactEvent event, SubTransactionId sub,
				   SubTransactionId parent, void *arg)
{
	(void) sub;
	(void) parent;
	(void) arg;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		forget_all();
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	CacheRegisterRelcacheCallback(forget_relation, (Datum) 0);
	CacheRegisterSyscacheCallback(TYPEOID, forget_at_catalog_change, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, forget_at_catalog_change, (Datum) 0);
	RegisterXactCallback(forget_at_abort, NULL);
	RegisterSubXactCallback(forget_at_subabort, NULL);
	callbacks_registered = true;
}

/* The attribute of a live column by name, or NULL. */
static Form_pg_attribute
find_attribute(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att;
	}
	return NULL;
}

/* The base type of a column, and its type modifier (-1: none). */
static Oid
base_type(Form_pg_attribute att, int32 *typmod)
{
	*typmod = att->atttypmod;
	return getBaseTypeAndTypmod(att->atttypid, typmod);
}

/*
 * Whether column c can be set with a value of c->type as an INSERT would
 * store it: of that base type with no modifier (no coercion to make), not
 * generated, and not an identity that refuses values.
 */
static bool
find_column(TupleDesc desc, TargetColumn *c)
{
	Form_pg_attribute att = find_attribute(desc, c->name);
	int32		typmod;

	c->attnum = 0;
	c->domain = InvalidOid;
	c->domain_state = NULL;
	if (att == NULL || base_type(att, &typmod) != c->type || typmod != -1 ||
		att->attgenerated != '\0' || att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
		return false;
	c->attnum = att->attnum;
	if (att->atttypid != c->type)
		c->domain = att->atttypid;
	return true;
}

static bool
is_set_column(const TargetTable *t, AttrNumber attnum)
{
	for (int i = 0; i < t->ncolumns; i++)
		if (t->columns[i].attnum == attnum)
			return true;
	return false;
}

/*
 * Whether the executor's helpers insert into rel as an INSERT statement
 * would.  Rules and row-level security are the rewriter's and the
 * planner's, statement triggers and transition tables ModifyTable's, and
 * a partition's constraint or a partitioned table's routing more than
 * these inserts check: those tables take the statement.
 */
static bool
insertable(Relation rel)
{
	TriggerDesc *trig = rel->trigdesc;

	return rel->rd_rel->relkind == RELKIND_RELATION &&
		!rel->rd_rel->relispartition &&
		!rel->rd_rel->relhasrules &&
		!rel->rd_rel->relrowsecurity &&
		(trig == NULL ||
		 !(trig->trig_insert_before_statement || trig->trig_insert_after_statement ||
		   trig->trig_insert_new_table));
}

/*
 * The defaults of the columns this file does not set, planned in t->cxt;
 * and the key's, for a table that has one.
 */
static void
plan_defaults(TargetTable *t, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext caller = MemoryContextSwitchTo(t->cxt);

	t->defaults = palloc(sizeof(ColumnDefault) * desc->natts);
	t->ndefaults = 0;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Expr	   *expr;

		/* Generated columns are the executor's to compute. */
		if (att->attisdropped || att->attgenerated != '\0' || is_set_column(t, att->attnum))
			continue;
		expr = (Expr *) build_column_default(rel, att->attnum);
		if (expr == NULL)
			continue;
		expr = expression_planner(expr);
		t->defaults[t->ndefaults].attnum = att->attnum;
		t->defaults[t->ndefaults].expr = expr;
		t->ndefaults++;
		if (att->attnum == t->key_attnum)
			t->key_default = expr;
		/* A volatile default may read the table: one row at a time, as COPY. */
		if (contain_volatile_functions((Node *) expr))
			t->row_at_a_time = true;
	}
	MemoryContextSwitchTo(caller);
}

static bool
has_generated(TupleDesc desc)
{
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped && TupleDescAttr(desc, i)->attgenerated != '\0')
			return true;
	return false;
}

/*
 * The table's CHECK constraints, planned in t->cxt as ExecRelCheck plans
 * them for each new ResultRelInfo: read back from their text and planned
 * at every call, they cost a send more than its rows (two thirds of
 * webpush_send_user's inserts).  A table with generated columns leaves
 * them to the executor, which expands those columns in the expressions.
 */
static void
plan_checks(TargetTable *t, Relation rel)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	MemoryContext caller;

	t->checks = NULL;
	t->nchecks = 0;
	if (constr == NULL || constr->num_check == 0 || has_generated(RelationGetDescr(rel)))
		return;
	caller = MemoryContextSwitchTo(t->cxt);
	t->checks = palloc0(sizeof(Expr *) * constr->num_check);
	t->nchecks = constr->num_check;
	for (int i = 0; i < constr->num_check; i++)
		if (webpush_check_enforced(&constr->check[i]))
			t->checks[i] = expression_planner(stringToNode(constr->check[i].ccbin));
	MemoryContextSwitchTo(caller);
}

/*
 * Whether each index of rel runs only PostgreSQL's own code as a row goes
 * in: no expression or predicate, and a built-in access method and
 * operator families (a primary key on a bigint, say).
 */
static bool
builtin_indexes(Relation rel)
{
	List	   *oids = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		builtin = true;

	foreach(lc, oids)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);

		builtin = builtin && index->rd_rel->relam < FirstNormalObjectId &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indexprs, NULL) &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL);
		for (int k = 0; k < IndexRelationGetNumberOfKeyAttributes(index); k++)
			builtin = builtin && index->rd_opfamily[k] < FirstNormalObjectId;
		index_close(index, AccessShareLock);
	}
	list_free(oids);
	return builtin;
}

/* Fill t from its table as it is now. */
static void
load_table(TargetTable *t)
{
	Oid			namespace;
	Relation	rel;
	TupleDesc	desc;
	bool		ok;

	register_callbacks();
	if (t->cxt == NULL)
		t->cxt = AllocSetContextCreate(CacheMemoryContext, "webpush queue table",
									   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(t->cxt);

	/*
	 * Valid from here on: an invalidation that arrives while it loads (as
	 * the table is opened) makes the next call load it again.
	 */
	t->valid = true;
	t->usable = false;
	t->row_at_a_time = false;
	t->plain = false;
	t->relid = InvalidOid;
	t->key_attnum = 0;
	t->key_default = NULL;
	t->defaults = NULL;
	t->ndefaults = 0;
	t->checks = NULL;
	t->nchecks = 0;
	for (int i = 0; i < t->ncolumns; i++)
	{
		t->columns[i].attnum = 0;
		t->columns[i].domain_state = NULL;
	}

	namespace = get_namespace_oid("webpush", true);
	if (OidIsValid(namespace))
		t->relid = get_relname_relid(t->relname, namespace);
	if (!OidIsValid(t->relid))
		return;
	rel = table_open(t->relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	ok = insertable(rel);
	for (int i = 0; i < t->ncolumns && ok; i++)
		ok = find_column(desc, &t->columns[i]);
	if (t->key != NULL)
	{
		Form_pg_attribute att = find_attribute(desc, t->key);
		int32		typmod;

		if (att != NULL && base_type(att, &typmod) == INT8OID)
			t->key_attnum = att->attnum;
		else
			ok = false;
	}
	t->row_at_a_time = (rel->trigdesc != NULL && rel->trigdesc->trig_insert_before_row) ||
		has_generated(desc);
	plan_defaults(t, rel);
	plan_checks(t, rel);
	t->plain = rel->trigdesc == NULL && t->ndefaults == 0 && !has_generated(desc) &&
		(desc->constr == NULL || desc->constr->num_check == 0) && builtin_indexes(rel);
	t->usable = ok;
	table_close(rel, NoLock);
}

/* Loads of a table one call may make before it takes the statement. */
#define MAX_LOADS_PER_CALL 3

/*
 * Open t's table for inserting, and say whether this file can insert into
 * it: checked under the lock, so that a change to the table that the lock
 * waited for is seen.
 */
static bool
open_target(TargetTable *t, Relation *out)
{
	/*
	 * Loading plans defaults and CHECK constraints, which may run a DBA's
	 * functions, and one that catches an error (a subtransaction's abort)
	 * forgets what it loads: after a few loads the statement inserts.
	 */
	for (int loads = 0; loads <= MAX_LOADS_PER_CALL; loads++)
	{
		Relation	rel;

		if (!t->valid)
		{
			if (loads == MAX_LOADS_PER_CALL)
				break;
			load_table(t);
		}
		if (!t->usable)
			return false;
		rel = table_open(t->relid, RowExclusiveLock);
		if (t->valid)
		{
			*out = rel;
			return true;
		}
		table_close(rel, NoLock);
	}
	return false;
}

/* Whether index is a plain btree whose equality on key is eq_proc. */
static bool
btree_equality(Relation index, int key, Oid type, RegProcedure eq_proc)
{
	Oid			op;

	if (index->rd_rel->relam != BTREE_AM_OID)
		return false;
	op = get_opfamily_member(index->rd_opfamily[key], type, type, BTEqualStrategyNumber);
	return OidIsValid(op) && get_opcode(op) == eq_proc;
}

/* A text column whose equality is bytewise, in a plain index's collation. */
static bool
deterministic_text(Form_pg_attribute att, Relation index, int key)
{
	int32		typmod;

	return att != NULL && base_type(att, &typmod) == TEXTOID &&
		get_collation_isdeterministic(att->attcollation) &&
		index->rd_indcollation[key] == att->attcollation;
}

/*
 * The subscriptions' columns, and whether the two indexes the lookups scan
 * are what they expect: plain btrees on (application, user_id) and on the
 * id, with the equality of text and of bigint.
 */
static void
load_subscriptions(void)
{
	Oid			namespace;
	Relation	rel;
	Relation	by_user;
	Relation	by_id;
	TupleDesc	desc;
	Form_pg_attribute id;
	Form_pg_attribute application;
	Form_pg_attribute user_id;
	int32		typmod;

	register_callbacks();
	subscriptions.valid = true;
	subscriptions.usable = false;
	subscriptions.relid = subscriptions.by_user = subscriptions.by_id = InvalidOid;
	namespace = get_namespace_oid("webpush", true);
	if (!OidIsValid(namespace))
		return;
	subscriptions.relid = get_relname_relid("subscriptions", namespace);
	subscriptions.by_user = get_relname_relid("subscriptions_user_id_idx", namespace);
	subscriptions.by_id = get_relname_relid("subscriptions_pkey", namespace);
	if (!OidIsValid(subscriptions.relid) || !OidIsValid(subscriptions.by_user) ||
		!OidIsValid(subscriptions.by_id))
		return;
	rel = table_open(subscriptions.relid, AccessShareLock);
	by_user = index_open(subscriptions.by_user, AccessShareLock);
	by_id = index_open(subscriptions.by_id, AccessShareLock);
	desc = RelationGetDescr(rel);
	id = find_attribute(desc, "id");
	application = find_attribute(desc, "application");
	user_id = find_attribute(desc, "user_id");
	subscriptions.usable =
		by_user->rd_index->indrelid == subscriptions.relid &&
		by_id->rd_index->indrelid == subscriptions.relid &&
		id != NULL && base_type(id, &typmod) == INT8OID &&
		deterministic_text(application, by_user, 0) &&
		deterministic_text(user_id, by_user, 1) &&
		by_user->rd_index->indnkeyatts == 2 &&
		by_user->rd_index->indkey.values[0] == application->attnum &&
		by_user->rd_index->indkey.values[1] == user_id->attnum &&
		heap_attisnull(by_user->rd_indextuple, Anum_pg_index_indpred, NULL) &&
		btree_equality(by_user, 0, TEXTOID, F_TEXTEQ) &&
		btree_equality(by_user, 1, TEXTOID, F_TEXTEQ) &&
		by_id->rd_index->indisunique && by_id->rd_index->indnkeyatts == 1 &&
		by_id->rd_index->indkey.values[0] == id->attnum &&
		heap_attisnull(by_id->rd_indextuple, Anum_pg_index_indpred, NULL) &&
		btree_equality(by_id, 0, INT8OID, F_INT8EQ);
	if (subscriptions.usable)
	{
		subscriptions.id = id->attnum;
		subscriptions.application = application->attnum;
	}
	index_close(by_id, NoLock);
	index_close(by_user, NoLock);
	table_close(rel, NoLock);
}

/*
 * Whether the lookups apply, checked under the lock they read with, so
 * that a change to the table that the lock waited for is seen.
 */
static bool
subscriptions_usable(void)
{
	for (;;)
	{
		if (!subscriptions.valid)
			load_subscriptions();
		if (!subscriptions.usable)
			return false;
		LockRelationOid(subscriptions.relid, AccessShareLock);
		if (subscriptions.valid)
			return true;
	}
}

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
	set_column(&deliveries, slot, D_MESSAGE_ID, message_id, message_id_null);
	set_column(&deliveries, slot, D_SUBSCRIPTION_ID, Int64GetDatum(subscription_id), false);
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
	TargetTable *tables[2] = {&messages, &deliveries};
	Inserts		ins;
	TupleTableSlot *row;
	Datum		id;
	bool		id_null;

	begin_inserts(&ins, tables, rels, 2);
	row = new_slot(&ins, 0);
	begin_row(&ins, 0, row);
	set_column(&messages, row, M_APPLICATION, CStringGetTextDatum(spec->app), false);
	set_column(&messages, row, M_PAYLOAD, PointerGetDatum(spec->payload), spec->payload == NULL);
	set_column(&messages, row, M_TTL, Int32GetDatum(spec->opts.ttl), false);
	set_column(&messages, row, M_URGENCY, CStringGetTextDatum(spec->opts.urgency), false);
	set_column(&messages, row, M_TOPIC,
			   spec->opts.has_topic ? CStringGetTextDatum(spec->opts.topic) : (Datum) 0,
			   !spec->opts.has_topic);
	set_column(&messages, row, M_QUEUED_BY, ObjectIdGetDatum(role), !OidIsValid(role));
	set_column(&messages, row, M_SEND_AT, TimestampTzGetDatum(send_at), false);
	set_column(&messages, row, M_EXPIRES_AT, TimestampTzGetDatum(expires_at), false);
	set_column(&messages, row, M_DEDUPE_KEY, (Datum) 0, true);
	set_column(&messages, row, M_RECIPIENTS, Int32GetDatum(n), false);

	out->message_id = 0;
	out->recipients = n;
	if (insert_row(&ins, 0, row))
	{
		/* The id as stored: a BEFORE ROW trigger may have changed it. */
		id = slot_getattr(row, messages.key_attnum, &id_null);
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
	Relation	rel = table_open(subscriptions.relid, AccessShareLock);
	Relation	index = index_open(subscriptions.by_user, AccessShareLock);
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
		Datum		id = slot_getattr(slot, subscriptions.id, &isnull);

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
	Datum		d = slot_getattr(slot, subscriptions.application, &isnull);
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
	Relation	rel = table_open(subscriptions.relid, AccessShareLock);
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
			int64		id = DatumGetInt64(slot_getattr(slot, subscriptions.id, &isnull));

			if (!isnull && bsearch(&id, wanted, nwanted, sizeof(int64), compare_int64) != NULL &&
				of_application(slot, app, app_len))
				found[n++] = id;
			CHECK_FOR_INTERRUPTS();
		}
		table_endscan(scan);
	}
	else if (nwanted > 0)
	{
		Relation	index = index_open(subscriptions.by_id, AccessShareLock);
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

	if (spec->dedupe_key != NULL || spec->app == NULL || !subscriptions_usable())
		return false;
	if (!open_target(&messages, &rels[0]))
		return false;
	if (!open_target(&deliveries, &rels[1]))
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
 * without running it, when they already are (tables_busy).
 */
static bool
with_tables(bool (*fn) (void *arg), void *arg)
{
	volatile bool done = false;

	if (tables_busy)
		return false;
	tables_busy = true;
	PG_TRY();
	{
		done = fn(arg);
	}
	PG_FINALLY();
	{
		tables_busy = false;
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

/* The row of webpush.intake (rel, opened by the caller); false: skipped. */
static bool
store_intake(Relation rel, text *user_id, const MessageSpec *spec)
{
	TargetTable *tables[1] = {&intake};
	Inserts		ins;
	TupleTableSlot *row;
	Datum		id;
	bool		id_null = false;
	bool		stored;

	Assert(spec->app != NULL && spec->dedupe_key == NULL && !spec->has_send_at &&
		   !spec->opts.has_topic);

	begin_inserts(&ins, tables, &rel, 1);
	/*
	 * The message's id to be: what webpush.messages' default gives.  An
	 * identity's (or a serial's) next value is what the executor would
	 * compute for it, without an expression to set up for the one row.
	 */
	if (IsA(messages.key_default, NextValueExpr) &&
		((NextValueExpr *) messages.key_default)->typeId == INT8OID)
		id = Int64GetDatum(nextval_internal(((NextValueExpr *) messages.key_default)->seqid, false));
	else
		id = ExecEvalExprSwitchContext(ExecInitExpr(messages.key_default, NULL),
									   GetPerTupleExprContext(ins.estate), &id_null);
	row = new_slot(&ins, 0);
	begin_row(&ins, 0, row);
	set_column(&intake, row, I_ID, id, id_null);
	set_column(&intake, row, I_APPLICATION, CStringGetTextDatum(spec->app), false);
	set_column(&intake, row, I_USER_ID, PointerGetDatum(user_id), false);
	set_column(&intake, row, I_PAYLOAD, PointerGetDatum(spec->payload), spec->payload == NULL);
	set_column(&intake, row, I_TTL, Int32GetDatum(spec->opts.ttl), false);
	set_column(&intake, row, I_URGENCY, CStringGetTextDatum(spec->opts.urgency), false);
	set_column(&intake, row, I_QUEUED_AT,
			   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false);
	set_column(&intake, row, I_SOURCE, PointerGetDatum(spec->source), spec->source == NULL);
	stored = insert_row(&ins, 0, row);
	end_inserts(&ins);
	return stored;
}

/* A trigger's row of webpush.intake, for with_tables. */
typedef struct IntakeCall
{
	text	   *user_id;
	const MessageSpec *spec;
	bool	   *stored;
} IntakeCall;

static bool
intake_call(void *arg)
{
	IntakeCall *c = arg;
	Relation	rel;

	if (!messages.valid)
		load_table(&messages);
	if (messages.key_default == NULL || !open_target(&intake, &rel))
		return false;
	*c->stored = store_intake(rel, c->user_id, c->spec);
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

	if (!intake.valid || !intake.usable || !intake.plain || !messages.valid ||
		messages.key_default == NULL || !IsA(messages.key_default, NextValueExpr))
		return false;
	rel = table_open(intake.relid, RowExclusiveLock);
	if (!intake.valid || !messages.valid)
	{
		/* Changed meanwhile: loaded again, as the function's owner. */
		table_close(rel, NoLock);
		return false;
	}
	*c->stored = store_intake(rel, c->user_id, c->spec);
	return true;
}

bool
queue_insert_intake(text *user_id, const MessageSpec *spec, bool *stored)
{
	IntakeCall	call = {user_id, spec, stored};

	return with_tables(intake_call, &call);
}

bool
queue_insert_intake_plain(text *user_id, const MessageSpec *spec)
{
	bool		stored;
	IntakeCall	call = {user_id, spec, &stored};

	return with_tables(plain_intake_call, &call);
}
