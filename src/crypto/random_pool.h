/*
 * random_pool.h
 *		Random bytes for the per-message keys and salts, drawn from OpenSSL's
 *		private generator a few kilobytes at a time.
 *
 * Each RAND_bytes call in OpenSSL 3 checks for a fork with getpid(), a
 * system call; a message needs a salt and a private scalar, and the worker
 * sends thousands a second.  The pool asks once per POOL_SIZE bytes and
 * wipes what it hands out.  A pool belongs to one process: it must not be
 * created before a fork whose children both use it.
 */
#ifndef WEBPUSH_RANDOM_POOL_H
#define WEBPUSH_RANDOM_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct RandomPool RandomPool;

extern RandomPool *random_pool_create(void);
extern void random_pool_free(RandomPool *pool);

/* len (at most RANDOM_POOL_MAX_TAKE) fresh random bytes; false on failure. */
#define RANDOM_POOL_MAX_TAKE 64
extern bool random_pool_take(RandomPool *pool, uint8_t *out, size_t len);

#endif							/* WEBPUSH_RANDOM_POOL_H */
