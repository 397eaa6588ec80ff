/*
 * spi_util.h
 *		Helpers shared by the modules that talk to the tables via SPI.
 */
#ifndef WEBPUSH_SPI_UTIL_H
#define WEBPUSH_SPI_UTIL_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/array.h"
#include "utils/lsyscache.h"

/*
 * A statement prepared once per process and kept in *cache (SPI_keepplan),
 * with a generic plan.
 *
 * Each statement of the queue is written for one plan (TID lookups, index
 * scans on the keys, a LIMIT), so the plan cache is told to build it once:
 * left to choose, it weighs custom plans against the generic one at every
 * execution, and the arrays and limits the worker passes make the custom
 * plan look cheaper each time, so the worker would plan every claim and
 * record again.
 */
extern SPIPlanPtr spi_kept_plan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *types);

/*
 * Make plan's generic plan now, or find it still valid, with the given
 * boolean planner settings off, so that the next SPI_execute_plan of it
 * runs that plan.  The settings shape the plan and nothing else: what runs
 * while it executes (a DBA's trigger) plans as usual.  The plan's tables
 * are locked by then, and a lock already held takes no invalidation, so
 * nothing replans it in between.  Needs plan_cache_mode at its default
 * (the worker pins it), which keeps a generic plan.
 */
extern void spi_plan_with_off(SPIPlanPtr plan, const char *const *settings, int nsettings);

/*
 * Run step(arg) in a subtransaction, its deferred constraints checked at
 * its end, so that whatever refuses a row is caught here and not at
 * COMMIT.  Returns NULL when it went through, else the error it raised
 * (undone), copied into the caller's memory context.
 */
extern ErrorData *spi_in_subtransaction(void (*step) (void *arg), void *arg);

/*
 * Whether an error is about the row being written (its data, a constraint
 * or a trigger that refuses it), not about the moment (a deadlock, a
 * cancel, a shortage): only those make a row fail for good.
 */
static inline bool
spi_is_row_fault(const ErrorData *error)
{
	int			category = ERRCODE_TO_CATEGORY(error->sqlerrcode);

	return category == ERRCODE_TO_CATEGORY(ERRCODE_DATA_EXCEPTION) ||
		category == ERRCODE_TO_CATEGORY(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION) ||
		error->sqlerrcode == ERRCODE_RAISE_EXCEPTION;
}

/* An int8 column of a row of SPI_tuptable (row from 0, col from 1). */
static inline int64
spi_get_int64(int row, int col, bool *isnull)
{
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull));
}

static inline void
spi_connect_or_error(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "webpush: SPI_connect failed");
}

/* A bytea holding a copy of len bytes, in the current memory context. */
static inline bytea *
bytes_to_bytea(const uint8 *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

/* A one-dimensional array of a fixed-size type, from n Datums. */
static inline ArrayType *
datum_array(Datum *d, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return construct_array(d, n, type, typlen, typbyval, typalign);
}

#endif							/* WEBPUSH_SPI_UTIL_H */
