/*
 * insert_target.c
 *		The tables insert.c writes and reads, as they are now
 *		(insert_target.h).
 *
 * Each column insert.c sets is found by name, and its base type must be
 * the type of the value set; the defaults of the others and the CHECK
 * constraints are planned; what insert.c cannot do as an INSERT would
 * (rules, row-level security that applies to the role inserting,
 * statement triggers and transition tables, partitioning) makes the
 * table unusable here, and enqueue.c's statement
 * inserts instead.  All of it is kept in a memory context per table and
 * forgotten when the relcache says the table changed, or when a
 * transaction that may have changed it aborts.
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
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "support/compat.h"
#include "queue/insert_target.h"
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


static TargetColumn delivery_columns[D_COLUMNS] = {
	[D_MESSAGE_ID] = {.name = "message_id", .type = INT8OID},
	[D_SUBSCRIPTION_ID] = {.name = "subscription_id", .type = INT8OID},
};

TargetTable target_intake = {
	.relname = "intake", .columns = intake_columns, .ncolumns = I_COLUMNS
};
TargetTable target_messages = {
	.relname = "messages", .columns = message_columns, .ncolumns = M_COLUMNS, .key = "id"
};
TargetTable target_deliveries = {
	.relname = "deliveries", .columns = delivery_columns, .ncolumns = D_COLUMNS
};

SubscriptionIndexes target_subscriptions;

static bool callbacks_registered = false;

bool		target_tables_busy = false;

static void
forget_all(void)
{
	target_intake.valid = false;
	target_messages.valid = false;
	target_deliveries.valid = false;
	target_subscriptions.valid = false;
}

static void
forget_relation(Datum arg, Oid relid)
{
	(void) arg;
	if (relid == InvalidOid)
		forget_all();
	if (relid == target_intake.relid)
		target_intake.valid = false;
	if (relid == target_messages.relid)
		target_messages.valid = false;
	if (relid == target_deliveries.relid)
		target_deliveries.valid = false;
	if (relid == target_subscriptions.relid || relid == target_subscriptions.by_user ||
		relid == target_subscriptions.by_id)
		target_subscriptions.valid = false;
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
 * would.  Rules are the rewriter's, statement triggers and transition
 * tables ModifyTable's, and a partition's constraint or a partitioned
 * table's routing more than these inserts check: those tables take the
 * statement.  Row-level security depends on the role inserting, and is
 * checked at each insert (target_open).
 */
static bool
insertable(Relation rel)
{
	TriggerDesc *trig = rel->trigdesc;

	return rel->rd_rel->relkind == RELKIND_RELATION &&
		!rel->rd_rel->relispartition &&
		!rel->rd_rel->relhasrules &&
		(trig == NULL ||
		 !(trig->trig_insert_before_statement || trig->trig_insert_after_statement ||
		   trig->trig_insert_new_table));
}

/*
 * The defaults of the columns insert.c does not set, planned in t->cxt;
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
void
target_load(TargetTable *t)
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
		(desc->constr == NULL || desc->constr->num_check == 0) && builtin_indexes(rel) &&
		!(rel->rd_rel->relrowsecurity && rel->rd_rel->relforcerowsecurity);
	t->usable = ok;
	table_close(rel, NoLock);
}

/* Loads of a table one call may make before it takes the statement. */
#define MAX_LOADS_PER_CALL 3

/*
 * Open t's table for inserting, and say whether insert.c can insert into
 * it: checked under the lock, so that a change to the table that the lock
 * waited for is seen.
 */
bool
target_open(TargetTable *t, Relation *out)
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
			target_load(t);
		}
		if (!t->usable)
			return false;
		rel = table_open(t->relid, RowExclusiveLock);

		/*
		 * Row-level security that applies to the role inserting (not the
		 * table's owner, as the extension's own functions run) is the
		 * planner's: the statement inserts.
		 */
		if (rel->rd_rel->relrowsecurity &&
			check_enable_rls(t->relid, InvalidOid, true) == RLS_ENABLED)
		{
			table_close(rel, NoLock);
			return false;
		}
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
	target_subscriptions.valid = true;
	target_subscriptions.usable = false;
	target_subscriptions.relid = target_subscriptions.by_user = target_subscriptions.by_id = InvalidOid;
	namespace = get_namespace_oid("webpush", true);
	if (!OidIsValid(namespace))
		return;
	target_subscriptions.relid = get_relname_relid("subscriptions", namespace);
	target_subscriptions.by_user = get_relname_relid("subscriptions_user_id_idx", namespace);
	target_subscriptions.by_id = get_relname_relid("subscriptions_pkey", namespace);
	if (!OidIsValid(target_subscriptions.relid) || !OidIsValid(target_subscriptions.by_user) ||
		!OidIsValid(target_subscriptions.by_id))
		return;
	rel = table_open(target_subscriptions.relid, AccessShareLock);
	by_user = index_open(target_subscriptions.by_user, AccessShareLock);
	by_id = index_open(target_subscriptions.by_id, AccessShareLock);
	desc = RelationGetDescr(rel);
	id = find_attribute(desc, "id");
	application = find_attribute(desc, "application");
	user_id = find_attribute(desc, "user_id");
	target_subscriptions.usable =
		by_user->rd_index->indrelid == target_subscriptions.relid &&
		by_id->rd_index->indrelid == target_subscriptions.relid &&
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
	if (target_subscriptions.usable)
	{
		target_subscriptions.id = id->attnum;
		target_subscriptions.application = application->attnum;
	}
	index_close(by_id, NoLock);
	index_close(by_user, NoLock);
	table_close(rel, NoLock);
}

/*
 * Whether the lookups apply, checked under the lock they read with, so
 * that a change to the table that the lock waited for is seen.
 */
bool
target_subscriptions_usable(void)
{
	for (;;)
	{
		if (!target_subscriptions.valid)
			load_subscriptions();
		if (!target_subscriptions.usable)
			return false;
		LockRelationOid(target_subscriptions.relid, AccessShareLock);
		if (target_subscriptions.valid)
			return true;
	}
}
