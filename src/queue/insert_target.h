/*
 * insert_target.h
 *		The tables insert.c writes and reads, as they are now: each column
 *		set found by name and its type checked, defaults and CHECK
 *		constraints planned, the subscriptions' indexes found; settled once
 *		per version of each table and forgotten when the relcache says it
 *		changed.  Not for use outside src/queue/.
 */
#ifndef WEBPUSH_QUEUE_INSERT_TARGET_H
#define WEBPUSH_QUEUE_INSERT_TARGET_H

#include "postgres.h"

#include "nodes/primnodes.h"
#include "utils/rel.h"

/* A column insert.c sets, found by name. */
typedef struct TargetColumn
{
	const char *name;
	Oid			type;			/* the value's type: the column's base type */
	AttrNumber	attnum;
	Oid			domain;			/* the column's domain; InvalidOid: none */
	void	   *domain_state;	/* domain_check's, in the table's context */
} TargetColumn;

/* A column insert.c leaves to its default, as an INSERT does. */
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
	bool		usable;			/* false: enqueue.c's statement inserts */
	bool		row_at_a_time;	/* no batches (BEFORE ROW triggers, volatile
								 * defaults, generated columns) */
	bool		plain;			/* an insert runs nothing of anyone's: no
								 * trigger, CHECK, default, generated column,
								 * index of anything but built-in parts or
								 * row-level security the owner is held to */
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

/* What enqueue.c's statements set; id, pending and created_at are defaults. */
enum
{
	M_APPLICATION, M_PAYLOAD, M_TTL, M_URGENCY, M_TOPIC, M_QUEUED_BY, M_SEND_AT,
	M_EXPIRES_AT, M_DEDUPE_KEY, M_RECIPIENTS, M_COLUMNS
};

enum
{
	D_MESSAGE_ID, D_SUBSCRIPTION_ID, D_COLUMNS
};

/*
 * The subscriptions, read to find the recipients: the two indexes the
 * lookups scan, and the columns they read.
 */
typedef struct SubscriptionIndexes
{
	bool		valid;
	bool		usable;
	Oid			relid;
	Oid			by_user;		/* btree on (application, user_id) */
	Oid			by_id;			/* the primary key */
	AttrNumber	id;
	AttrNumber	application;
} SubscriptionIndexes;

extern TargetTable target_intake;
extern TargetTable target_messages;
extern TargetTable target_deliveries;
extern SubscriptionIndexes target_subscriptions;

/*
 * Whether the target tables are in use: being loaded, or inserted into.
 * What runs meanwhile may send again: a DBA's trigger or CHECK on a queue
 * table, a function folded as a constraint is planned.  Such a send takes
 * enqueue.c's statement instead (each entry point returns false), so that
 * nothing the outer one runs is loaded again and freed under it.
 */
extern bool target_tables_busy;

/* Fill t from its table as it is now (t->usable says whether it can be used). */
extern void target_load(TargetTable *t);

/*
 * Open t's table for inserting, and say whether insert.c can insert into
 * it: checked under the lock, so that a change to the table that the lock
 * waited for is seen.
 */
extern bool target_open(TargetTable *t, Relation *out);

/*
 * Whether the subscriptions' lookups apply, checked under the lock they
 * read with, so that a change to the table that the lock waited for is
 * seen.
 */
extern bool target_subscriptions_usable(void);

#endif							/* WEBPUSH_QUEUE_INSERT_TARGET_H */
