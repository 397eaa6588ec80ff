/*
 * compat.h
 *		Shims over the PostgreSQL majors the extension builds on (13 to 18).
 */
#ifndef WEBPUSH_COMPAT_H
#define WEBPUSH_COMPAT_H

#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/tuplestore.h"

#if PG_VERSION_NUM < 150000
/* A set-returning function's tuplestore, as 15's InitMaterializedSRF. */
static inline void
InitMaterializedSRF(FunctionCallInfo fcinfo, bits32 flags)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	TupleDesc	desc;

	(void) flags;
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = CreateTupleDescCopy(desc);
	MemoryContextSwitchTo(old);
}
#endif

/* Does role own the database?  16 folded the per-catalog checks into one. */
#if PG_VERSION_NUM >= 160000
#define webpush_database_ownercheck(dboid, role) \
	object_ownercheck(DatabaseRelationId, (dboid), (role))
#else
#define webpush_database_ownercheck(dboid, role) pg_database_ownercheck((dboid), (role))
#endif

/*
 * ProcessUtility_hook: 14 added readOnlyTree.  Declare the hook with
 * PROCESS_UTILITY_PARAMS and pass its arguments on with
 * PROCESS_UTILITY_ARGS.
 */
#if PG_VERSION_NUM >= 140000
#define PROCESS_UTILITY_PARAMS \
	PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define PROCESS_UTILITY_ARGS \
	pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc
#else
#define PROCESS_UTILITY_PARAMS \
	PlannedStmt *pstmt, const char *queryString, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define PROCESS_UTILITY_ARGS \
	pstmt, queryString, context, params, queryEnv, dest, qc
#endif

/*
 * Release a cached plan held by CurrentResourceOwner: 14 made the owner an
 * argument.
 */
#if PG_VERSION_NUM >= 140000
#define webpush_release_cached_plan(cplan) ReleaseCachedPlan((cplan), CurrentResourceOwner)
#else
#define webpush_release_cached_plan(cplan) ReleaseCachedPlan((cplan), true)
#endif

/* A hash table keyed by a C string: 14 made the string flag explicit. */
#if PG_VERSION_NUM >= 140000
#define WEBPUSH_HASH_STRING_KEYS HASH_STRINGS
#else
#define WEBPUSH_HASH_STRING_KEYS 0
#endif

/*
 * Shared memory is requested from shmem_request_hook from 15 on (asking
 * earlier is an error there); before 15, straight from _PG_init.
 */
#if PG_VERSION_NUM >= 150000
#define WEBPUSH_HAVE_SHMEM_REQUEST_HOOK
#endif

/* Our GUC prefix: 15 reserves it, older versions warn about strays. */
#if PG_VERSION_NUM >= 150000
#define webpush_reserve_guc_prefix(prefix) MarkGUCPrefixReserved(prefix)
#else
#define webpush_reserve_guc_prefix(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/*
 * A wait event set that lives as long as the process: 17 ties a set to a
 * resource owner (NULL: none) instead of a memory context.
 */
#if PG_VERSION_NUM >= 170000
#define webpush_create_wait_event_set(nevents) CreateWaitEventSet(NULL, (nevents))
#else
#define webpush_create_wait_event_set(nevents) \
	CreateWaitEventSet(TopMemoryContext, (nevents))
#endif

/*
 * Memory for a GUC check hook's *extra, which the GUC machinery frees: with
 * free() before 16, with guc_free() (GUC's own memory context) from 16 on.
 */
#if PG_VERSION_NUM >= 160000
#include "utils/guc.h"
#define webpush_guc_malloc(size) guc_malloc(LOG, (size))
#else
#include <stdlib.h>
#define webpush_guc_malloc(size) malloc(size)
#endif

/*
 * The wait event pg_stat_activity shows while we wait: from 17 on a named
 * one, registered on first use in each process (*cache remembers it);
 * before, the generic "Extension".
 */
#if PG_VERSION_NUM >= 170000
#include "utils/wait_event.h"
static inline uint32
webpush_wait_event(uint32 *cache, const char *name)
{
	if (*cache == 0)
		*cache = WaitEventExtensionNew(name);
	return *cache;
}
#else
#include "pgstat.h"
static inline uint32
webpush_wait_event(uint32 *cache, const char *name)
{
	(void) cache;
	(void) name;
	return PG_WAIT_EXTENSION;
}
#endif

/*
 * Whether a CHECK constraint is enforced (NOT ENFORCED: PostgreSQL 18), and
 * where a ResultRelInfo keeps the CHECK constraints ready to run (renamed
 * in 18).
 */
#if PG_VERSION_NUM >= 180000
#define webpush_check_enforced(check) ((check)->ccenforced)
#define webpush_check_exprs(rri) ((rri)->ri_CheckConstraintExprs)
#else
#define webpush_check_enforced(check) true
#define webpush_check_exprs(rri) ((rri)->ri_ConstraintExprs)
#endif

/* An index scan: 18 adds instrumentation (NULL: none). */
#include "access/genam.h"
#if PG_VERSION_NUM >= 180000
#define webpush_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#else
#define webpush_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#endif

/*
 * Inserts outside a plan, as logical replication's apply worker makes them
 * (queue/insert.c): an EState whose range table holds the n relations,
 * each a result relation, and at the end the result relations closed
 * (their indexes, the relations, and any that triggers opened).  13 keeps
 * result relations in an array with a current one, which the executor's
 * helpers read; 14 lists the opened ones and passes the one meant; 16 adds
 * permission infos to the range table; 18 the relations not pruned.
 */
#include "access/table.h"
#include "access/tableam.h"
#include "executor/executor.h"
#include "utils/rel.h"
#include "nodes/makefuncs.h"
#if PG_VERSION_NUM >= 160000
#include "parser/parse_relation.h"
#endif
static inline void
webpush_init_result_relations(EState *estate, Relation *rels, ResultRelInfo *rris, int n)
{
	List	   *rtable = NIL;
#if PG_VERSION_NUM >= 160000
	List	   *perminfos = NIL;
#endif

	for (int i = 0; i < n; i++)
	{
		RangeTblEntry *rte = makeNode(RangeTblEntry);

		rte->rtekind = RTE_RELATION;
		rte->relid = RelationGetRelid(rels[i]);
		rte->relkind = rels[i]->rd_rel->relkind;
		rte->rellockmode = RowExclusiveLock;
#if PG_VERSION_NUM >= 160000
		addRTEPermissionInfo(&perminfos, rte);
#endif
		rtable = lappend(rtable, rte);
	}
#if PG_VERSION_NUM >= 180000
	ExecInitRangeTable(estate, rtable, perminfos, bms_add_range(NULL, 1, n));
#elif PG_VERSION_NUM >= 160000
	ExecInitRangeTable(estate, rtable, perminfos);
#else
	ExecInitRangeTable(estate, rtable);
#endif
	for (int i = 0; i < n; i++)
	{
		InitResultRelInfo(&rris[i], rels[i], i + 1, NULL, 0);
#if PG_VERSION_NUM >= 140000
		estate->es_opened_result_relations =
			lappend(estate->es_opened_result_relations, &rris[i]);
#endif
	}
#if PG_VERSION_NUM < 140000
	estate->es_result_relations = rris;
	estate->es_num_result_relations = n;
	estate->es_result_relation_info = &rris[0];
#endif
}

static inline void
webpush_close_result_relations(EState *estate)
{
#if PG_VERSION_NUM >= 140000
	ListCell   *lc;

	/* The relations themselves were opened by the caller, not the EState. */
	ExecCloseResultRelations(estate);
	foreach(lc, estate->es_opened_result_relations)
		table_close(((ResultRelInfo *) lfirst(lc))->ri_RelationDesc, NoLock);
#else
	for (int i = 0; i < estate->es_num_result_relations; i++)
	{
		ExecCloseIndices(&estate->es_result_relations[i]);
		table_close(estate->es_result_relations[i].ri_RelationDesc, NoLock);
	}
	ExecCleanUpTriggerState(estate);
#endif
}

/* One row: its triggers, constraints, the row and its index entries. */
#if PG_VERSION_NUM >= 140000
#define webpush_simple_insert(rri, estate, slot) \
	ExecSimpleRelationInsert((rri), (estate), (slot))
#else
#define webpush_simple_insert(rri, estate, slot) \
	((estate)->es_result_relation_info = (rri), ExecSimpleRelationInsert((estate), (slot)))
#endif

/*
 * The index entries of a stored row, with every uniqueness and exclusion
 * check; returns the indexes to check again at the end (deferred ones), for
 * the AFTER ROW triggers.  16 adds onlySummarizing.
 */
#if PG_VERSION_NUM >= 160000
#define webpush_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, false)
#elif PG_VERSION_NUM >= 140000
#define webpush_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL)
#else
#define webpush_insert_index_tuples(rri, slot, estate) \
	((estate)->es_result_relation_info = (rri), \
	 ExecInsertIndexTuples((slot), (estate), false, NULL, NIL))
#endif

#endif							/* WEBPUSH_COMPAT_H */
