/*
 * random_pool.c
 *		Random bytes from OpenSSL's private generator, fetched in bulk.
 */
#include "crypto/random_pool.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

/* About 80 messages' worth of salts and scalars per refill. */
#define POOL_SIZE 4096

struct RandomPool
{
	size_t		next;			/* first byte not handed out yet */
	uint8_t		bytes[POOL_SIZE];
};

RandomPool *
random_pool_create(void)
{
	RandomPool *pool = malloc(sizeof(RandomPool));

	if (pool != NULL)
		pool->next = POOL_SIZE; /* filled at the first take */
	return pool;
}

void
random_pool_free(RandomPool *pool)
{
	if (pool == NULL)
		return;
	OPENSSL_cleanse(pool, sizeof(RandomPool));
	free(pool);
}

bool
random_pool_take(RandomPool *pool, uint8_t *out, size_t len)
{
	if (len > RANDOM_POOL_MAX_TAKE)
		return false;
	if (POOL_SIZE - pool->next < len)
	{
		if (RAND_priv_bytes(pool->bytes, POOL_SIZE) != 1)
			return false;
		pool->next = 0;
	}
	memcpy(out, pool->bytes + pool->next, len);
	/* Handed out once: nobody reads these bytes from the pool again. */
	OPENSSL_cleanse(pool->bytes + pool->next, len);
	pool->next += len;
	return true;
}
