/*
 * crypto_bound.c: the per-message crypto floor on this machine, one core.
 *
 * Every notification needs one P-256 key generation and one ECDH.  This
 * times three ways to do them: the floor, plain EC_POINT_mul calls and
 * nothing else (a random scalar, its public point and the shared point,
 * each converted to affine coordinates), independent of this project's
 * code; OpenSSL 3's EVP API as a straightforward sender would (generate,
 * import the peer, derive); and the EC_POINT path the worker uses
 * (src/crypto/p256.c, its random bytes from src/crypto/random_pool.c), one
 * at a time and a claim's hundred together, sharing one field inversion.
 * The worker's CPU per message is compared with the floor, both in CPU
 * time: a batch preempted by another process is not charged for the wait.
 * Built and run by bench/run.sh; "floor_us N" on the last line is for
 * bench/bench.js.
 *
 * "crypto_bound --floor N" times only the floor, in N processes at once,
 * and prints the mean of their medians: the floor with N cores busy, to
 * compare N workers with (cores that share a chip slow each other down,
 * whatever they run).
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "crypto/p256.h"

#define ROUNDS 4000

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* This thread's CPU time: what /proc's utime + stime count for the worker. */
static double
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

#define FLOOR_BATCHES 5

static int
compare_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * The floor: per message, a fresh key pair (a random scalar times the
 * generator) and an ECDH (the scalar times the recipient's point), both
 * points made affine, as any sender must.  The median of five batches, in
 * microseconds of CPU time; *best gets the fastest batch.
 */
static double
plain_floor_us(const uint8_t *peer_octets, double *best)
{
	EC_GROUP   *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	BN_CTX	   *ctx = BN_CTX_new();
	EC_POINT   *peer = EC_POINT_new(group);
	EC_POINT   *public_point = EC_POINT_new(group);
	EC_POINT   *shared = EC_POINT_new(group);
	BIGNUM	   *scalar = BN_new();
	BIGNUM	   *x = BN_new();
	BIGNUM	   *y = BN_new();
	const BIGNUM *order = EC_GROUP_get0_order(group);
	double		batch_us[FLOOR_BATCHES];

	if (group == NULL || ctx == NULL || scalar == NULL || x == NULL || y == NULL ||
		EC_POINT_oct2point(group, peer, peer_octets, P256_PUBLIC_LEN, ctx) != 1)
		exit(1);
	for (int b = 0; b < FLOOR_BATCHES; b++)
	{
		double		t0 = cpu_us();

		for (int i = 0; i < ROUNDS / 2; i++)
		{
			if (BN_rand_range(scalar, order) != 1 ||
				EC_POINT_mul(group, public_point, scalar, NULL, NULL, ctx) != 1 ||
				EC_POINT_get_affine_coordinates(group, public_point, x, y, ctx) != 1 ||
				EC_POINT_mul(group, shared, NULL, peer, scalar, ctx) != 1 ||
				EC_POINT_get_affine_coordinates(group, shared, x, NULL, ctx) != 1)
				exit(1);
		}
		batch_us[b] = (cpu_us() - t0) / (ROUNDS / 2);
	}
	qsort(batch_us, FLOOR_BATCHES, sizeof(double), compare_double);
	*best = batch_us[0];
	BN_free(scalar);
	BN_free(x);
	BN_free(y);
	EC_POINT_free(peer);
	EC_POINT_free(public_point);
	EC_POINT_free(shared);
	BN_CTX_free(ctx);
	EC_GROUP_free(group);
	return batch_us[FLOOR_BATCHES / 2];
}

/*
 * The floor in n processes at once: each child writes its median to a pipe.
 */
static int
concurrent_floor(const uint8_t *peer, int n)
{
	int			fds[2];
	double		sum = 0;
	double		fastest = 0;

	if (n < 1 || n > 256 || pipe(fds) != 0)
		return 1;
	for (int i = 0; i < n; i++)
	{
		pid_t		pid = fork();

		if (pid < 0)
			return 1;
		if (pid == 0)
		{
			double		r[2];

			r[0] = plain_floor_us(peer, &r[1]);
			_exit(write(fds[1], r, sizeof(r)) == sizeof(r) ? 0 : 1);
		}
	}
	close(fds[1]);
	for (int i = 0; i < n; i++)
	{
		double		r[2];

		if (read(fds[0], r, sizeof(r)) != sizeof(r))
			return 1;
		sum += r[0];
		if (i == 0 || r[1] < fastest)
			fastest = r[1];
	}
	while (wait(NULL) > 0)
		;
	printf("floor, %d processes at once                  %.1f us per message each (mean of their medians; fastest batch %.1f)\n",
		   n, sum / n, fastest);
	printf("floor_us %.2f\n", sum / n);
	return 0;
}

int
main(int argc, char **argv)
{
	EVP_PKEY   *receiver = p256_generate();
	uint8_t		peer[P256_PUBLIC_LEN];
	uint8_t		sender_public[P256_PUBLIC_LEN];
	uint8_t		secret[P256_SECRET_LEN];
	RandomPool *random = random_pool_create();
	P256Ephemeral *e = random ? p256_ephemeral_create(random) : NULL;
	double		t0;
	double		evp_us;
	double		point_us;
	double		batch_us;
	double		floor_us;
	double		floor_best_us;

	if (receiver == NULL || e == NULL || p256_export_public(receiver, peer) != 0)
		return 1;
	if (argc == 3 && strcmp(argv[1], "--floor") == 0)
		return concurrent_floor(peer, atoi(argv[2]));

	t0 = now_us();
	for (int i = 0; i < ROUNDS; i++)
	{
		EVP_PKEY   *sender = p256_generate();
		EVP_PKEY   *peer_key = p256_public_from_raw(peer, 0);

		if (sender == NULL || peer_key == NULL ||
			p256_export_public(sender, sender_public) != 0 ||
			p256_ecdh(sender, peer_key, secret) != 0)
			return 1;
		EVP_PKEY_free(sender);
		EVP_PKEY_free(peer_key);
	}
	evp_us = (now_us() - t0) / ROUNDS;

	t0 = now_us();
	for (int i = 0; i < ROUNDS; i++)
		if (p256_ephemeral_ecdh(e, peer, sender_public, secret) != 0)
			return 1;
	point_us = (now_us() - t0) / ROUNDS;

	/* As the worker makes them: a claim's agreements together. */
	{
		static P256Agreement agreements[100];

		for (int i = 0; i < 100; i++)
			memcpy(agreements[i].peer, peer, P256_PUBLIC_LEN);
		t0 = now_us();
		for (int i = 0; i < ROUNDS / 100; i++)
		{
			p256_ephemeral_ecdh_batch(e, agreements, 100);
			if (agreements[99].status != 0)
				return 1;
		}
		batch_us = (now_us() - t0) / (ROUNDS / 100 * 100);
	}

	floor_us = plain_floor_us(peer, &floor_best_us);

	printf("keygen + ECDH, OpenSSL EVP (naive)            %.0f us per message\n", evp_us);
	printf("keygen + ECDH, EC_POINT path, one at a time   %.1f us per message\n", point_us);
	printf("keygen + ECDH, EC_POINT path, 100 together    %.1f us per message (the worker's)\n", batch_us);
	printf("floor: key pair + ECDH, plain EC_POINT_mul    %.1f us per message (median of %d batches; fastest %.1f)\n",
		   floor_us, FLOOR_BATCHES, floor_best_us);
	printf("floor_us %.2f\n", floor_us);
	EVP_PKEY_free(receiver);
	p256_ephemeral_free(e);
	random_pool_free(random);
	return 0;
}
