/*
 * spi_util.h
 *		Small helpers shared by the modules that talk to the tables via SPI.
 */
#ifndef WEBPUSH_SPI_UTIL_H
#define WEBPUSH_SPI_UTIL_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/array.h"
#include "utils/lsyscache.h"

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
