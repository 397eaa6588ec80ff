/*
 * unit.c
 *		Unit tests of the pure-C modules (no server): base64, endpoint
 *		validation and the address classes the worker refuses to connect
 *		to, the RFC 8291 example, VAPID signatures, what a push service's
 *		answer means for a delivery, and which host may start a request.  Built with ASan and
 *		UBSan by "make unit"; ends with the line "N passed, M failed".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "crypto/b64.h"
#include "crypto/ece.h"
#include "http/endpoint.h"
#include "shmem/cap_book.h"
#include "worker/cap_rules.h"
#include "worker/host_rules.h"
#include "support/safe_text.h"
#include "crypto/p256.h"
#include "push/host_rates.h"
#include "push/payload_limits.h"
#include "push/receipt.h"
#include "http/retry_after.h"
#include "push/subscription.h"
#include "crypto/vapid.h"
#include "worker/verdict.h"

static int	passed;
static int	failed;

#define CHECK(cond, ...) \
	do { \
		if (cond) \
			passed++; \
		else \
		{ \
			failed++; \
			printf("FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__); \
			printf("\n"); \
		} \
	} while (0)

static long
decode(const char *s, uint8_t *out, size_t cap)
{
	return b64_decode(s, strlen(s), out, cap);
}

static void
test_b64(void)
{
	uint8_t		out[128];
	char		enc[256];

	CHECK(decode("BTBZMqHH6r4Tts7J_aSIgg", out, sizeof(out)) == 16, "base64url, no padding");
	CHECK(decode("BTBZMqHH6r4Tts7J/aSIgg==", out, sizeof(out)) == 16, "standard, padded");
	CHECK(decode("BTBZMqHH6r4Tts7J/aSIgg", out, sizeof(out)) == 16, "standard, unpadded");
	CHECK(decode("BTBZMqHH6r4Tts7J_aSIgg==", out, sizeof(out)) == 16, "base64url, padded");
	CHECK(decode("BTBZMqHH6r4Tts7J_aSIgg=", out, sizeof(out)) == -1, "wrong padding");
	CHECK(decode("a-b+", out, sizeof(out)) == -1, "mixed alphabets refused");
	CHECK(decode("QR", out, sizeof(out)) == -1, "non-zero leftover bits refused");
	CHECK(decode("QQ", out, sizeof(out)) == 1 && out[0] == 'A', "one byte");
	CHECK(decode("Q", out, sizeof(out)) == -1, "a lone character");
	CHECK(decode("QQ QQ", out, sizeof(out)) == -1, "whitespace refused");
	CHECK(decode("", out, sizeof(out)) == 0, "empty");
	CHECK(decode("QUJD", out, 2) == -1, "does not overflow the output");
	CHECK(b64url_encode((const uint8_t *) "\xfb\xff", 2, enc) == 3 && strcmp(enc, "-_8") == 0,
		  "url alphabet, no padding: %s", enc);
}

static AddressClass
v4(const char *a)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	inet_pton(AF_INET, a, &sa.sin_addr);
	return endpoint_address_class((struct sockaddr *) &sa);
}

static AddressClass
v6(const char *a)
{
	struct sockaddr_in6 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	inet_pton(AF_INET6, a, &sa.sin6_addr);
	return endpoint_address_class((struct sockaddr *) &sa);
}

/* What the connect-time check sees: every class, both families. */
static void
test_address_classes(void)
{
	static const struct
	{
		const char *addr;
		AddressClass cls;
	}			cases[] = {
		{"8.8.8.8", ADDRESS_PUBLIC}, {"1.1.1.1", ADDRESS_PUBLIC},
		{"172.32.0.1", ADDRESS_PUBLIC}, {"100.128.0.1", ADDRESS_PUBLIC},
		{"0.0.0.0", ADDRESS_UNSPECIFIED}, {"0.1.2.3", ADDRESS_UNSPECIFIED},
		{"127.0.0.1", ADDRESS_LOOPBACK}, {"127.255.255.254", ADDRESS_LOOPBACK},
		{"10.0.0.1", ADDRESS_PRIVATE}, {"172.16.0.1", ADDRESS_PRIVATE},
		{"172.31.255.255", ADDRESS_PRIVATE}, {"192.168.1.1", ADDRESS_PRIVATE},
		{"169.254.169.254", ADDRESS_LINK_LOCAL},
		{"100.64.0.1", ADDRESS_CGNAT}, {"100.127.255.255", ADDRESS_CGNAT},
		{"224.0.0.1", ADDRESS_MULTICAST}, {"239.255.255.250", ADDRESS_MULTICAST},
		{"240.0.0.1", ADDRESS_RESERVED}, {"255.255.255.255", ADDRESS_RESERVED},
		{"192.0.0.8", ADDRESS_RESERVED}, {"192.0.2.1", ADDRESS_RESERVED},
		{"198.51.100.1", ADDRESS_RESERVED}, {"203.0.113.1", ADDRESS_RESERVED},
		{"198.18.0.1", ADDRESS_RESERVED}, {"198.19.255.255", ADDRESS_RESERVED},
		{"192.88.99.1", ADDRESS_TRANSLATED}, {"192.31.196.1", ADDRESS_RESERVED},
		{"192.52.193.1", ADDRESS_RESERVED}, {"192.175.48.1", ADDRESS_RESERVED},
		{"192.88.100.1", ADDRESS_PUBLIC}, {"192.0.1.1", ADDRESS_PUBLIC},
	};
	static const struct
	{
		const char *addr;
		AddressClass cls;
	}			cases6[] = {
		{"2606:4700:4700::1111", ADDRESS_PUBLIC}, {"2a00:1450::1", ADDRESS_PUBLIC},
		{"::", ADDRESS_UNSPECIFIED}, {"::1", ADDRESS_LOOPBACK},
		{"::ffff:127.0.0.1", ADDRESS_MAPPED}, {"::ffff:8.8.8.8", ADDRESS_MAPPED},
		{"::127.0.0.1", ADDRESS_RESERVED},
		{"fe80::1", ADDRESS_LINK_LOCAL}, {"febf::1", ADDRESS_LINK_LOCAL},
		{"fec0::1", ADDRESS_PRIVATE},
		{"fc00::1", ADDRESS_UNIQUE_LOCAL}, {"fd12:3456::1", ADDRESS_UNIQUE_LOCAL},
		{"ff02::1", ADDRESS_MULTICAST}, {"2001:db8::1", ADDRESS_RESERVED},
		{"64:ff9b::a00:1", ADDRESS_TRANSLATED}, {"64:ff9b::808:808", ADDRESS_TRANSLATED},
		{"64:ff9b:1::1", ADDRESS_TRANSLATED}, {"2002:7f00:1::1", ADDRESS_TRANSLATED},
		{"2001:0:4136:e378::1", ADDRESS_TRANSLATED}, {"2001:2::1", ADDRESS_RESERVED},
		{"2001:1ff::1", ADDRESS_RESERVED}, {"2001:200::1", ADDRESS_PUBLIC},
		{"100::1", ADDRESS_RESERVED}, {"100:0:0:1::1", ADDRESS_RESERVED},
		{"3fff::1", ADDRESS_RESERVED}, {"5f00::1", ADDRESS_RESERVED},
		{"2620:4f:8000::1", ADDRESS_RESERVED}, {"4000::1", ADDRESS_RESERVED},
		{"1234::1", ADDRESS_RESERVED}, {"3ffe:ffff::1", ADDRESS_PUBLIC},
	};
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(v4(cases[i].addr) == cases[i].cls, "%s is %s, not %s", cases[i].addr,
			  address_class_name(v4(cases[i].addr)), address_class_name(cases[i].cls));
	for (i = 0; i < sizeof(cases6) / sizeof(cases6[0]); i++)
		CHECK(v6(cases6[i].addr) == cases6[i].cls, "%s is %s, not %s", cases6[i].addr,
			  address_class_name(v6(cases6[i].addr)), address_class_name(cases6[i].cls));
}

static void
test_endpoints(void)
{
	static const struct
	{
		const char *url;
		EndpointError err;
		const char *origin;
	}			cases[] = {
		{"https://fcm.googleapis.com/fcm/send/x", ENDPOINT_OK, "https://fcm.googleapis.com"},
		{"https://Push.Example.COM:443/x", ENDPOINT_OK, "https://push.example.com"},
		{"https://push.example.com:8443/x", ENDPOINT_OK, "https://push.example.com:8443"},
		{"https://[2606:4700::1]:8443/x", ENDPOINT_OK, "https://[2606:4700::1]:8443"},
		{"http://push.example.com/x", ENDPOINT_NOT_HTTPS, NULL},
		{"wss://push.example.com/x", ENDPOINT_NOT_HTTPS, NULL},
		{"https:///x", ENDPOINT_NO_HOST, NULL},
		{"https://", ENDPOINT_NO_HOST, NULL},
		{"https://u@push.example.com/x", ENDPOINT_USERINFO, NULL},
		{"https://u:p@push.example.com/x", ENDPOINT_USERINFO, NULL},
		{"https://push.example.com/a b", ENDPOINT_BAD_CHARACTER, NULL},
		{"https://push.example.com/\x01", ENDPOINT_BAD_CHARACTER, NULL},
		{"push.example.com/x", ENDPOINT_NOT_URL, NULL},
		{"", ENDPOINT_EMPTY, NULL},
		{"https://127.0.0.1/x", ENDPOINT_NON_PUBLIC_ADDRESS, NULL},
		{"https://2130706433/x", ENDPOINT_NON_PUBLIC_ADDRESS, NULL},
		{"https://0x7f.1/x", ENDPOINT_NON_PUBLIC_ADDRESS, NULL},
		{"https://017700000001/x", ENDPOINT_NON_PUBLIC_ADDRESS, NULL},
		{"https://[::1]/x", ENDPOINT_NON_PUBLIC_ADDRESS, NULL},
		{"https://[::ffff:10.0.0.1]/x", ENDPOINT_NON_PUBLIC_ADDRESS, NULL},
		{"https://[fe80::1%25eth0]/x", ENDPOINT_NON_PUBLIC_ADDRESS, NULL},
	};
	char		longurl[ENDPOINT_MAX_LEN + 2];
	Endpoint	ep;
	size_t		i;
	EndpointPolicy any_port = {0, 1, 0, {0}};
	EndpointPolicy private_any_port = {1, 1, 0, {0}};
	EndpointPolicy listed;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		EndpointError err = endpoint_parse(cases[i].url, strlen(cases[i].url), &any_port, &ep);

		CHECK(err == cases[i].err, "%s: error %d, expected %d", cases[i].url, err, cases[i].err);
		if (err == ENDPOINT_OK && cases[i].origin)
			CHECK(strcmp(ep.origin, cases[i].origin) == 0, "%s: origin %s", cases[i].url, ep.origin);
	}
	CHECK(endpoint_parse("https://127.0.0.1:8443/x", 24, &private_any_port, &ep) == ENDPOINT_OK &&
		  strcmp(ep.origin, "https://127.0.0.1:8443") == 0, "allowed when private endpoints are on");

	/* Ports: 443 only by default, a list, or any. */
	CHECK(endpoint_parse("https://push.example.com/x", 26, NULL, &ep) == ENDPOINT_OK && ep.port == 443,
		  "443 by default");
	CHECK(endpoint_parse("https://push.example.com:443/x", 30, NULL, &ep) == ENDPOINT_OK,
		  "an explicit 443");
	CHECK(endpoint_parse("https://push.example.com:25/x", 29, NULL, &ep) == ENDPOINT_PORT_NOT_ALLOWED,
		  "port 25 refused by default");
	CHECK(endpoint_parse_port_list("443, 8443", &listed) == 0 && listed.nports == 2 && !listed.any_port,
		  "a port list");
	CHECK(endpoint_parse("https://push.example.com:8443/x", 31, &listed, &ep) == ENDPOINT_OK,
		  "a listed port");
	CHECK(endpoint_parse("https://push.example.com:8444/x", 31, &listed, &ep) == ENDPOINT_PORT_NOT_ALLOWED,
		  "an unlisted port");
	CHECK(endpoint_parse_port_list("*", &listed) == 0 && listed.any_port, "any port");
	CHECK(endpoint_parse_port_list("", &listed) != 0 && endpoint_parse_port_list("443,", &listed) != 0 &&
		  endpoint_parse_port_list("0", &listed) != 0 && endpoint_parse_port_list("65536", &listed) != 0 &&
		  endpoint_parse_port_list("44 3", &listed) != 0 && endpoint_parse_port_list("https", &listed) != 0,
		  "malformed port lists refused");

	memset(longurl, 'a', sizeof(longurl));
	memcpy(longurl, "https://a.example/", 18);
	CHECK(endpoint_parse(longurl, ENDPOINT_MAX_LEN, NULL, &ep) == ENDPOINT_OK, "2048 bytes is allowed");
	CHECK(endpoint_parse(longurl, ENDPOINT_MAX_LEN + 1, NULL, &ep) == ENDPOINT_TOO_LONG, "2049 is not");
}

static void
test_rfc8291(void)
{
	uint8_t		ua_public[65], auth[16], salt[16], as_private[32], expected[144];
	uint8_t		body[ECE_BODY_LEN(64)];
	size_t		len = 0;
	EceContext *ctx = ece_context_create();
	EceRecipient r;
	EVP_PKEY   *sender;
	const char *pt = "When I grow up, I want to be a watermelon";

	decode("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", ua_public, 65);
	decode("BTBZMqHH6r4Tts7J_aSIgg", auth, 16);
	decode("DGv6ra1nlYgDCS1FRnbzlw", salt, 16);
	decode("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw", as_private, 32);
	decode("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
		   expected, sizeof(expected));
	sender = p256_keypair_from_private(as_private);
	CHECK(ctx && sender && ece_recipient_init(&r, ua_public, auth) == 0, "set-up");
	CHECK(ece_encrypt(ctx, &r, (const uint8_t *) pt, strlen(pt), salt, sender, body, &len) == ECE_OK,
		  "encrypts");
	CHECK(len == 144 && memcmp(body, expected, 144) == 0, "RFC 8291 section 5 body, byte for byte");
	CHECK(ece_encrypt(ctx, &r, body, ECE_MAX_PLAINTEXT + 1, NULL, NULL, body, &len) ==
		  ECE_ERROR_PAYLOAD_TOO_LARGE, "3994 bytes refused");
	ua_public[40] ^= 1;
	CHECK(p256_public_from_raw(ua_public, 1) == NULL && p256_public_from_raw(ua_public, 0) == NULL,
		  "a corrupted point is refused, with or without the full check");
	CHECK(ece_recipient_init(&r, ua_public, auth) == 0 &&
		  ece_encrypt(ctx, &r, (const uint8_t *) pt, strlen(pt), NULL, NULL, body, &len) ==
		  ECE_ERROR_INVALID_KEY, "the per-message path refuses a corrupted point too");
	ece_recipient_clear(&r);
	EVP_PKEY_free(sender);
	ece_context_free(ctx);
}

/*
 * The per-message ECDH (EC_POINT arithmetic) agrees with OpenSSL's EVP derive
 * computed from the other side: the receiver's private key and the sender's
 * public point.
 */
static void
test_ephemeral_ecdh(void)
{
	RandomPool *random = random_pool_create();
	P256Ephemeral *e = random ? p256_ephemeral_create(random) : NULL;
	int			agree = 0;
	int			distinct = 1;
	uint8_t		previous[P256_PUBLIC_LEN] = {0};

	CHECK(e != NULL, "set-up");
	for (int i = 0; i < 200 && e != NULL; i++)
	{
		EVP_PKEY   *receiver = p256_generate();
		EVP_PKEY   *sender = NULL;
		uint8_t		receiver_public[P256_PUBLIC_LEN];
		uint8_t		sender_public[P256_PUBLIC_LEN];
		uint8_t		ours[P256_SECRET_LEN];
		uint8_t		theirs[P256_SECRET_LEN];

		if (receiver != NULL && p256_export_public(receiver, receiver_public) == 0 &&
			p256_ephemeral_ecdh(e, receiver_public, sender_public, ours) == 0 &&
			(sender = p256_public_from_raw(sender_public, 1)) != NULL &&
			p256_ecdh(receiver, sender, theirs) == 0 &&
			memcmp(ours, theirs, P256_SECRET_LEN) == 0)
			agree++;
		if (memcmp(previous, sender_public, P256_PUBLIC_LEN) == 0)
			distinct = 0;
		memcpy(previous, sender_public, P256_PUBLIC_LEN);
		EVP_PKEY_free(sender);
		EVP_PKEY_free(receiver);
	}
	CHECK(agree == 200, "%d of 200 ephemeral ECDH secrets match EVP_PKEY_derive", agree);
	CHECK(distinct, "a fresh sender key every time");
	p256_ephemeral_free(e);
	random_pool_free(random);
}

/*
 * A batch of agreements (more than one chunk, with a point off the curve
 * among them) gives what one at a time gives: each secret matches
 * EVP_PKEY_derive from the receiver's side, each sender key is new, and the
 * bad point is refused without spoiling the others.
 */
static void
test_ephemeral_ecdh_batch(void)
{
	enum
	{
		N = P256_BATCH_MAX + 37, BAD = 50
	};
	RandomPool *random = random_pool_create();
	P256Ephemeral *e = random ? p256_ephemeral_create(random) : NULL;
	static P256Agreement agreements[N];
	EVP_PKEY   *receivers[N] = {0};
	int			agree = 0;
	int			distinct = 1;

	CHECK(e != NULL, "set-up");
	for (int i = 0; i < N && e != NULL; i++)
	{
		receivers[i] = p256_generate();
		if (receivers[i] == NULL || p256_export_public(receivers[i], agreements[i].peer) != 0)
			CHECK(0, "receiver %d", i);
	}
	agreements[BAD].peer[P256_PUBLIC_LEN - 1] ^= 1;	/* off the curve */
	if (e != NULL)
		p256_ephemeral_ecdh_batch(e, agreements, N);
	for (int i = 0; i < N && e != NULL; i++)
	{
		EVP_PKEY   *sender = NULL;
		uint8_t		theirs[P256_SECRET_LEN];

		if (i == BAD)
			continue;
		if (agreements[i].status == 0 &&
			(sender = p256_public_from_raw(agreements[i].sender_public, 1)) != NULL &&
			p256_ecdh(receivers[i], sender, theirs) == 0 &&
			memcmp(agreements[i].secret, theirs, P256_SECRET_LEN) == 0)
			agree++;
		for (int j = 0; j < i; j++)
			if (memcmp(agreements[i].sender_public, agreements[j].sender_public,
					   P256_PUBLIC_LEN) == 0)
				distinct = 0;
		EVP_PKEY_free(sender);
	}
	CHECK(agree == N - 1, "%d of %d batched ECDH secrets match EVP_PKEY_derive", agree, N - 1);
	CHECK(agreements[BAD].status == -1, "a point off the curve is refused in a batch (%d)",
		  agreements[BAD].status);
	CHECK(distinct, "a fresh sender key for every agreement of a batch");
	for (int i = 0; i < N; i++)
		EVP_PKEY_free(receivers[i]);
	p256_ephemeral_free(e);
	random_pool_free(random);
}

/*
 * Agreements made ahead are taken once each, in order, by recipient: two
 * messages to one recipient, one to a recipient prepared for but skipped,
 * and one to a recipient nobody prepared for each get their own sender key.
 */
static void
test_ece_prepared(void)
{
	EceContext *ctx = ece_context_create();
	EVP_PKEY   *a = p256_generate();
	EVP_PKEY   *b = p256_generate();
	EVP_PKEY   *c = p256_generate();
	uint8_t		pa[P256_PUBLIC_LEN];
	uint8_t		pb[P256_PUBLIC_LEN];
	uint8_t		pc[P256_PUBLIC_LEN];
	const uint8_t *peers[4];
	const uint8_t *order[5];
	uint8_t		auth[ECE_AUTH_LEN] = {1};
	uint8_t		senders[5][P256_PUBLIC_LEN];
	int			ok = 0;
	int			distinct = 1;

	CHECK(ctx != NULL && a != NULL && b != NULL && c != NULL &&
		  p256_export_public(a, pa) == 0 && p256_export_public(b, pb) == 0 &&
		  p256_export_public(c, pc) == 0, "set-up");
	peers[0] = pa;
	peers[1] = pb;
	peers[2] = pa;
	peers[3] = pb;
	/* a, a (b passed over), b (prepared), c (not prepared), b (none left) */
	order[0] = pa;
	order[1] = pa;
	order[2] = pb;
	order[3] = pc;
	order[4] = pb;
	ece_prepare(ctx, peers, 4);
	for (int i = 0; i < 5; i++)
	{
		EceRecipient r;
		uint8_t		body[ECE_BODY_LEN(4)];
		size_t		len = 0;

		if (ece_recipient_init(&r, order[i], auth) == 0 &&
			ece_encrypt(ctx, &r, (const uint8_t *) "ping", 4, NULL, NULL, body, &len) == ECE_OK &&
			len == ECE_BODY_LEN(4))
			ok++;
		/* salt, record size, key id length, then the sender's key */
		memcpy(senders[i], body + ECE_SALT_LEN + 5, P256_PUBLIC_LEN);
		for (int j = 0; j < i; j++)
			if (memcmp(senders[i], senders[j], P256_PUBLIC_LEN) == 0)
				distinct = 0;
	}
	ece_forget_prepared(ctx);
	CHECK(ok == 5, "%d of 5 messages encrypted with prepared agreements", ok);
	CHECK(distinct, "no sender key used twice, prepared or not");
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	EVP_PKEY_free(c);
	ece_context_free(ctx);
}

/*
 * The pool hands out each byte once, across its refills: no two takes of
 * 64 bytes (over three pools' worth) are equal, and none is all zeros (what
 * a take would read back from the wiped part).
 */
static void
test_random_pool(void)
{
	RandomPool *random = random_pool_create();
	static uint8_t taken[200][RANDOM_POOL_MAX_TAKE];
	uint8_t		zeros[RANDOM_POOL_MAX_TAKE] = {0};
	uint8_t		too_long[RANDOM_POOL_MAX_TAKE + 1];
	int			ok = 0;
	int			repeats = 0;

	CHECK(random != NULL, "set-up");
	for (int i = 0; i < 200 && random != NULL; i++)
	{
		if (random_pool_take(random, taken[i], RANDOM_POOL_MAX_TAKE) &&
			memcmp(taken[i], zeros, sizeof(zeros)) != 0)
			ok++;
		for (int j = 0; j < i; j++)
			if (memcmp(taken[i], taken[j], RANDOM_POOL_MAX_TAKE) == 0)
				repeats++;
	}
	CHECK(ok == 200, "%d of 200 takes gave fresh bytes", ok);
	CHECK(repeats == 0, "%d takes repeated an earlier one", repeats);
	CHECK(random == NULL || !random_pool_take(random, too_long, sizeof(too_long)),
		  "a take longer than RANDOM_POOL_MAX_TAKE is refused");
	random_pool_free(random);
}

/* A subscription's values: the first error found, in a fixed order. */
static void
test_subscription_check(void)
{
	const char *p256dh = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
	const char *off_curve = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw8";
	static const struct
	{
		const char *endpoint;
		int			p256dh_case;	/* 0 valid, 1 short, 2 off the curve */
		const char *auth;
		int			has_expiration;
		double		expiration;
		int			allow_private;
		SubscriptionError expected;
	}			cases[] = {
		{"https://push.example.com/x", 0, "BTBZMqHH6r4Tts7J_aSIgg", 0, 0, 0, SUBSCRIPTION_OK},
		{"https://push.example.com/x", 0, "BTBZMqHH6r4Tts7J_aSIgg", 1, 1.7e12, 0, SUBSCRIPTION_OK},
		{"http://push.example.com/x", 1, "x", 0, 0, 0, SUBSCRIPTION_BAD_ENDPOINT},
		{"https://10.0.0.1/x", 0, "BTBZMqHH6r4Tts7J_aSIgg", 0, 0, 0, SUBSCRIPTION_NON_PUBLIC_ENDPOINT},
		{"https://10.0.0.1/x", 0, "BTBZMqHH6r4Tts7J_aSIgg", 0, 0, 1, SUBSCRIPTION_OK},
		{"https://push.example.com/x", 1, "BTBZMqHH6r4Tts7J_aSIgg", 0, 0, 0, SUBSCRIPTION_P256DH_ENCODING},
		{"https://push.example.com/x", 2, "BTBZMqHH6r4Tts7J_aSIgg", 0, 0, 0, SUBSCRIPTION_P256DH_NOT_ON_CURVE},
		{"https://push.example.com/x", 0, "BTBZMqHH6r4Tts7J_aSIg", 0, 0, 0, SUBSCRIPTION_AUTH_ENCODING},
		{"https://push.example.com/x", 0, "BTBZMqHH6r4Tts7J_aSIgg", 1, -1, 0, SUBSCRIPTION_EXPIRATION_RANGE},
		{"https://push.example.com/x", 0, "BTBZMqHH6r4Tts7J_aSIgg", 1, 2.6e14, 0, SUBSCRIPTION_EXPIRATION_RANGE},
		{"https://push.example.com/x", 0, "BTBZMqHH6r4Tts7J_aSIgg", 1, 0.0 / 0.0, 0, SUBSCRIPTION_EXPIRATION_RANGE},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		const char *key = cases[i].p256dh_case == 0 ? p256dh :
			cases[i].p256dh_case == 1 ? "BCVx" : off_curve;
		SubscriptionText in = {
			cases[i].endpoint, strlen(cases[i].endpoint), key, strlen(key),
			cases[i].auth, strlen(cases[i].auth), cases[i].has_expiration, cases[i].expiration
		};
		SubscriptionChecked out;
		EndpointPolicy policy = {cases[i].allow_private, 0, 1, {443}};
		SubscriptionError got = subscription_check(&in, &policy, &out);

		CHECK(got == cases[i].expected, "subscription case %zu (%s): %d, expected %d",
			  i, cases[i].endpoint, got, cases[i].expected);
	}
	CHECK(subscription_check_endpoint("https://a.example/\0x", 20, NULL, &(SubscriptionChecked) {0}) ==
		  SUBSCRIPTION_BAD_ENDPOINT, "an endpoint with a NUL inside is refused");
}

/* webpush.payload_limits: parsing, and which entry a push service gets. */
static void
test_payload_limits(void)
{
	static const struct
	{
		const char *text;
		int			ok;
	}			parses[] = {
		{"", 1},
		{"   ", 1},
		{"updates.push.services.mozilla.com=3070", 1},
		{" a.example = 1000 , *.example.org=2000,b.example:8443=3000", 1},
		{"a.example=127", 0},		/* below 128 */
		{"a.example=4097", 0},
		{"a.example=", 0},
		{"=1000", 0},
		{"*.=1000", 0},
		{"a.example 1000", 0},
		{"a.example=1000;b.example=1000", 0},
		{"a.example=1000,", 0},
		{"a/b=1000", 0},
		{"a.example=1000x", 0},
	};
	PayloadLimits limits;

	for (size_t i = 0; i < sizeof(parses) / sizeof(parses[0]); i++)
		CHECK((payload_limits_parse(parses[i].text, &limits) == NULL) == parses[i].ok,
			  "payload_limits_parse(\"%s\")", parses[i].text);
	CHECK(payload_limits_parse("a=1000,b=1000,c=1000,d=1000,e=1000,f=1000,g=1000,h=1000,"
							   "i=1000,j=1000,k=1000,l=1000,m=1000,n=1000,o=1000,p=1000", &limits) == NULL &&
		  limits.n == 16, "16 entries");
	CHECK(payload_limits_parse("a=1000,b=1000,c=1000,d=1000,e=1000,f=1000,g=1000,h=1000,"
							   "i=1000,j=1000,k=1000,l=1000,m=1000,n=1000,o=1000,p=1000,q=1000", &limits) != NULL,
		  "17 entries refused");

	CHECK(payload_limits_parse("Updates.Push.Services.Mozilla.com=3070, *.example.org=2000,"
							   " *.deep.example.org=1500, host.example.org=1000, host.example.org:8443=900",
							   &limits) == NULL, "parses");
	CHECK(payload_limit_for(&limits, "https://updates.push.services.mozilla.com") == 3070, "a host, any case");
	CHECK(payload_limit_for(&limits, "https://UPDATES.push.services.mozilla.com") == 3070, "the origin in another case");
	CHECK(payload_limit_for(&limits, "https://fcm.googleapis.com") == 0, "no entry: none");
	CHECK(payload_limit_for(&limits, "https://a.example.org") == 2000, "in a domain");
	CHECK(payload_limit_for(&limits, "https://example.org") == 0, "*.domain is not the domain itself");
	CHECK(payload_limit_for(&limits, "https://badexample.org") == 0, "a suffix that is not a label");
	CHECK(payload_limit_for(&limits, "https://x.deep.example.org") == 1500, "the longest domain wins");
	CHECK(payload_limit_for(&limits, "https://host.example.org") == 1000, "the host wins over its domain");
	CHECK(payload_limit_for(&limits, "https://host.example.org:8443") == 900, "host:port wins over the host");
	CHECK(payload_limit_for(&limits, "https://host.example.org:9443") == 1000, "another port: the host's");
	CHECK(payload_limit_for(NULL, "https://host.example.org") == 0, "no limits");
}

/* Retry-After: both RFC 9110 forms, bounded, everything else refused. */
static void
test_retry_after(void)
{
	/* 1994-11-06 08:49:37 UTC, the RFC's example date */
	const time_t rfc_date = 784111777;
	static const struct
	{
		const char *value;
		time_t		now;
		long		expected;
	}			cases[] = {
		{"120", 0, 120},
		{"0", 0, 0},
		{"  7\t", 0, 7},
		{"007", 0, 7},
		{"86400", 0, RETRY_AFTER_MAX_SECONDS},
		{"99999999999999999999999999", 0, RETRY_AFTER_MAX_SECONDS},
		{"-1", 0, -1},
		{"1.5", 0, -1},
		{"12 s", 0, -1},
		{"+5", 0, -1},
		{"", 0, -1},
		{"   ", 0, -1},
		{"Sun, 06 Nov 1994 08:49:37 GMT", rfc_date - 60, 60},
		{"Sun, 06 Nov 1994 08:49:37 GMT", rfc_date + 60, 0},
		{"Sunday, 06-Nov-94 08:49:37 GMT", rfc_date - 5, 5},
		{"Sun Nov  6 08:49:37 1994", rfc_date - 1, 1},
		{"Sun, 06 Nov 1994 08:49:37 GMT", 0, RETRY_AFTER_MAX_SECONDS},
		{"Sun, 06 Nov 1994 08:49:37 UTC", 0, -1},
		{"Sun, 6 Nov 1994 08:49:37 GMT", 0, -1},
		{"Sun, 31 Feb 1994 08:49:37 GMT", 0, -1},
		{"Sun, 29 Feb 1996 00:00:00 GMT", 825552000 - 10, 10},
		{"Sun, 29 Feb 1900 00:00:00 GMT", 0, -1},
		{"Sun, 06 Nov 1994 24:00:00 GMT", 0, -1},
		{"Xyz, 06 Nov 1994 08:49:37 GMT", 0, -1},
		{"Sun, 06 Nov 1994 08:49:37 GMT trailing", 0, -1},
		{"Sun, 06 Nov 1994 08:49", 0, -1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		long		got = retry_after_parse(cases[i].value, strlen(cases[i].value), cases[i].now);

		CHECK(got == cases[i].expected, "Retry-After \"%s\": %ld, expected %ld",
			  cases[i].value, got, cases[i].expected);
	}
	CHECK(retry_after_parse("12", 1, 0) == 1, "reads only len bytes");
}

/* Every signature must verify: r and s are left-padded to 32 bytes each. */
static void
test_vapid(void)
{
	uint8_t		priv[32];
	EVP_PKEY   *key;
	char		jwt[VAPID_JWT_MAX_LEN];
	int			i;
	int			ok = 0;
	int			short_half = 0;
	VapidSigner *signer;
	const char *a;
	const char *b;

	decode("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw", priv, 32);
	key = p256_keypair_from_private(priv);
	for (i = 0; i < 1000; i++)
	{
		long		n = vapid_jwt_sign(key, "https://push.example.com", "mailto:a@example.com",
									   1700000000 + i, jwt, sizeof(jwt));
		const char *dot = strrchr(jwt, '.');
		uint8_t		rs[64];
		ECDSA_SIG  *sig = ECDSA_SIG_new();
		unsigned char *der = NULL;
		int			der_len;
		EVP_MD_CTX *md = EVP_MD_CTX_new();

		if (n < 0 || b64_decode(dot + 1, strlen(dot + 1), rs, sizeof(rs)) != 64)
			continue;
		if (rs[0] == 0 || rs[32] == 0)
			short_half++;
		ECDSA_SIG_set0(sig, BN_bin2bn(rs, 32, NULL), BN_bin2bn(rs + 32, 32, NULL));
		der_len = i2d_ECDSA_SIG(sig, &der);
		if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
			EVP_DigestVerify(md, der, der_len, (const unsigned char *) jwt, dot - jwt) == 1)
			ok++;
		OPENSSL_free(der);
		ECDSA_SIG_free(sig);
		EVP_MD_CTX_free(md);
	}
	CHECK(ok == 1000, "%d of 1000 signatures verify (%d had a half with a leading zero byte)",
		  ok, short_half);

	signer = vapid_signer_create(priv, "mailto:a@example.com");
	a = vapid_jwt_for_origin(signer, "https://a.example", 1700000000);
	b = vapid_jwt_for_origin(signer, "https://a.example", 1700000000 + 3600);
	CHECK(a != NULL && a == b, "one JWT per origin, reused");
	b = vapid_jwt_for_origin(signer, "https://a.example", 1700000000 + 11 * 3600 + 1);
	CHECK(b != NULL, "re-signed an hour before it expires");
	CHECK(strcmp(vapid_signer_public_key(signer),
				 "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8") == 0,
		  "k= is the public key");
	vapid_signer_free(signer);
	EVP_PKEY_free(key);
}

/*
 * A JWT shared between processes is named by key, subject and origin, and
 * one handed to a signer is what it then sends.
 */
static void
test_vapid_shared(void)
{
	uint8_t		priv[32];
	uint8_t		other_priv[32];
	uint8_t		id[VAPID_TOKEN_ID_LEN];
	uint8_t		other[VAPID_TOKEN_ID_LEN];
	char		jwt[VAPID_JWT_MAX_LEN];
	long long	exp;
	VapidSigner *signer;
	VapidSigner *rotated;
	VapidSigner *resubject;
	VapidSigner *again;
	const time_t now = 1700000000;

	decode("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw", priv, 32);
	memcpy(other_priv, priv, 32);
	other_priv[31] ^= 1;
	signer = vapid_signer_create(priv, "mailto:a@example.com");
	rotated = vapid_signer_create(other_priv, "mailto:a@example.com");
	resubject = vapid_signer_create(priv, "mailto:b@example.com");
	again = vapid_signer_create(priv, "mailto:a@example.com");

	CHECK(vapid_token_id(signer, "https://a.example", id) == 0 &&
		  vapid_token_id(again, "https://a.example", other) == 0 &&
		  memcmp(id, other, sizeof(id)) == 0,
		  "one key, subject and origin: one id in every process");
	CHECK(vapid_token_id(rotated, "https://a.example", other) == 0 &&
		  memcmp(id, other, sizeof(id)) != 0, "another key: another id");
	CHECK(vapid_token_id(resubject, "https://a.example", other) == 0 &&
		  memcmp(id, other, sizeof(id)) != 0, "another subject: another id");
	CHECK(vapid_token_id(signer, "https://b.example", other) == 0 &&
		  memcmp(id, other, sizeof(id)) != 0, "another origin: another id");
	CHECK(vapid_audience_id(signer, "https://a.example", id) == 0 &&
		  vapid_audience_id(resubject, "https://a.example", other) == 0 &&
		  memcmp(id, other, sizeof(id)) == 0,
		  "another subject: the same audience id (a push service counts tokens by key and origin)");
	CHECK(vapid_token_id(signer, "https://a.example", other) == 0 &&
		  memcmp(id, other, sizeof(id)) != 0, "an audience id is never a token id");
	CHECK(vapid_audience_id(rotated, "https://a.example", other) == 0 &&
		  memcmp(id, other, sizeof(id)) != 0, "another key: another audience id");
	CHECK(vapid_audience_id(signer, "https://b.example", other) == 0 &&
		  memcmp(id, other, sizeof(id)) != 0, "another origin: another audience id");

	CHECK(vapid_jwt_cached(signer, "https://a.example", now) == NULL, "nothing cached yet");
	CHECK(vapid_jwt_sign_new(signer, "https://a.example", now, jwt, sizeof(jwt), &exp) > 0 &&
		  exp == now + VAPID_JWT_LIFETIME, "signed, valid for the lifetime");
	CHECK(vapid_jwt_keep(again, "https://a.example", jwt, exp) != NULL &&
		  strcmp(vapid_jwt_for_origin(again, "https://a.example", now + 3600), jwt) == 0,
		  "a JWT kept is the one sent");
	CHECK(vapid_jwt_cached(again, "https://a.example", exp - VAPID_JWT_REFRESH_MARGIN) == NULL &&
		  strcmp(vapid_jwt_for_origin(again, "https://a.example", exp - VAPID_JWT_REFRESH_MARGIN), jwt) != 0,
		  "and signed again at the refresh margin");

	vapid_signer_free(signer);
	vapid_signer_free(rotated);
	vapid_signer_free(resubject);
	vapid_signer_free(again);
}

/* Bytes from the network become valid UTF-8, cut on a character boundary. */
static void
test_safe_text(void)
{
	char		out[64];
	char		big[1100];
	char		out_big[1025];
	size_t		n;

	CHECK(safe_text("plain {\"reason\": 1}", 19, 0, out, sizeof(out)) == 19 &&
		  strcmp(out, "plain {\"reason\": 1}") == 0, "ASCII unchanged");
	CHECK(safe_text("caf\xc3\xa9 \xe2\x82\xac", 9, 0, out, sizeof(out)) == 9 &&
		  strcmp(out, "caf\xc3\xa9 \xe2\x82\xac") == 0, "valid UTF-8 kept");
	safe_text("\xff\xfe" "ok", 4, 0, out, sizeof(out));
	CHECK(strcmp(out, "\\xFF\\xFEok") == 0, "invalid bytes escaped: %s", out);
	safe_text("a\0b\x01\x7f\tc\n", 8, 0, out, sizeof(out));
	CHECK(strcmp(out, "a\\x00b\\x01\\x7F\tc\n") == 0, "controls escaped, tab and newline kept: %s", out);
	safe_text("\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80", 9, 0, out, sizeof(out));
	CHECK(strcmp(out, "\\xC0\\xAF\\xED\\xA0\\x80\\xF4\\x90\\x80\\x80") == 0,
		  "overlong, surrogate and out-of-range sequences escaped: %s", out);
	safe_text("caf\xc3\xa9", 5, 1, out, sizeof(out));
	CHECK(strcmp(out, "caf\\u{00E9}") == 0, "ASCII only: %s", out);
	CHECK(safe_text("ab\xc3", 3, 0, out, sizeof(out)) == 2 && strcmp(out, "ab") == 0,
		  "a character cut by the end of the input is dropped");
	CHECK(safe_text("abc\xc3\xa9", 5, 0, out, 5) == 3 && strcmp(out, "abc") == 0,
		  "cut before a character that does not fit");
	CHECK(safe_text("ab\xff", 3, 0, out, 5) == 2 && strcmp(out, "ab") == 0,
		  "never half an escape");

	/* An honest 1,024-byte body cut in the middle of a two-byte character. */
	memset(big, 'x', 1023);
	big[1023] = (char) 0xc3;
	n = safe_text(big, 1024, 0, out_big, sizeof(out_big));
	CHECK(n == 1023 && out_big[1023] == '\0', "1,024 bytes cut at the character boundary: %zu", n);
}

/* The receipt ids go into the top-level "receipt": true member only. */
static size_t
splice(const char *in, char *out, size_t cap)
{
	size_t		n = receipt_splice((const uint8_t *) in, strlen(in), 12, 345,
								   (uint8_t *) out, cap - 1);

	out[n] = '\0';
	return n;
}

static void
test_receipt(void)
{
	char		out[512];
	const char *ids = "{\"message\": 12, \"subscription\": 345}";
	char		want[512];

	CHECK(splice("{\"title\": \"t\", \"receipt\": true}", out, sizeof(out)) > 0 &&
		  snprintf(want, sizeof(want), "{\"title\": \"t\", \"receipt\": %s}", ids) > 0 &&
		  strcmp(out, want) == 0, "spliced at the end: %s", out);
	CHECK(splice("{\"receipt\": true, \"web_push\": 8030}", out, sizeof(out)) > 0 &&
		  snprintf(want, sizeof(want), "{\"receipt\": %s, \"web_push\": 8030}", ids) > 0 &&
		  strcmp(out, want) == 0, "spliced first: %s", out);
	CHECK(splice(" {\"receipt\":true}", out, sizeof(out)) > 0 &&
		  snprintf(want, sizeof(want), " {\"receipt\":%s}", ids) > 0 &&
		  strcmp(out, want) == 0, "compact JSON: %s", out);
	/* What only looks like the member is left alone. */
	CHECK(splice("{\"data\": {\"receipt\": true}}", out, sizeof(out)) == 0, "nested object: %s", out);
	CHECK(splice("{\"a\": [{\"receipt\": true}], \"b\": 1}", out, sizeof(out)) == 0, "inside an array");
	CHECK(splice("{\"body\": \"\\\"receipt\\\": true\"}", out, sizeof(out)) == 0, "inside a string");
	CHECK(splice("{\"body\": \"receipt\", \"x\": true}", out, sizeof(out)) == 0, "a value, not a key");
	CHECK(splice("{\"receipt\": false}", out, sizeof(out)) == 0, "false asks for no ids");
	CHECK(splice("{\"receipt\": trueish}", out, sizeof(out)) == 0, "not the literal true");
	CHECK(splice("[{\"receipt\": true}]", out, sizeof(out)) == 0, "not an object");
	CHECK(splice("receipt: true", out, sizeof(out)) == 0, "not JSON");
	CHECK(splice("{\"x\": \"cut", out, sizeof(out)) == 0, "a string cut short");
	CHECK(splice("{\"x\": 1}{\"receipt\": true}", out, sizeof(out)) == 0, "after the object ended");
	CHECK(splice("{\"receipt\": true}", out, 20) == 0, "no room: sent as stored");
	{
		uint8_t		big[96];
		size_t		n = receipt_splice((const uint8_t *) "{\"receipt\": true}", 17,
									   INT64_MAX, INT64_MAX, big, sizeof(big));

		CHECK(n == 17 + RECEIPT_MAX_GROWTH, "the largest ids grow it by RECEIPT_MAX_GROWTH: %zu", n);
	}
}

/*
 * What each answer means (verdict.h), row by row: every status class, the
 * statuses with a rule of their own, Retry-After, the attempts and the TTL
 * left.  A row's delay is checked against its bounds for jitter 0 and for
 * jitter just below 1.
 */
static void
test_verdicts(void)
{
	static const struct
	{
		long		status;
		bool		refused;
		long		retry_after;
		const char *text;
		int			attempts;
		int			max_attempts;
		int64_t		s_left;
		VerdictKind kind;
		double		min_delay_ms;	/* at jitter 0 */
		double		max_delay_ms;	/* at jitter ~1 */
		const char *reason;
	}			rows[] = {
		{201, false, -1, NULL, 1, 5, 3600, VERDICT_DELIVERED, 0, 0, ""},
		{200, false, -1, "ok", 1, 5, 3600, VERDICT_DELIVERED, 0, 0, ""},
		{202, false, -1, NULL, 5, 5, -10, VERDICT_DELIVERED, 0, 0, ""},
		{404, false, -1, "{\"code\":404}", 1, 5, 3600, VERDICT_GONE, 0, 0, "subscription gone: HTTP 404: {\"code\":404}"},
		{410, false, -1, NULL, 1, 5, 3600, VERDICT_GONE, 0, 0, "subscription gone: HTTP 410"},
		{410, false, 30, NULL, 1, 0, 3600, VERDICT_GONE, 0, 0, "subscription gone: HTTP 410"},
		{400, false, -1, "bad", 1, 5, 3600, VERDICT_FAILED, 0, 0, "HTTP 400: bad"},
		{401, false, -1, NULL, 1, 5, 3600, VERDICT_FAILED, 0, 0, "HTTP 401"},
		{403, false, 5, "{\"reason\":\"BadJwtToken\"}", 1, 5, 3600, VERDICT_FAILED, 0, 0, "HTTP 403: {\"reason\":\"BadJwtToken\"}"},
		{413, false, -1, "too big", 1, 5, 3600, VERDICT_FAILED, 0, 0, "HTTP 413: too big"},
		{301, false, -1, NULL, 1, 5, 3600, VERDICT_FAILED, 0, 0, "HTTP 301"},
		{100, false, -1, NULL, 1, 5, 3600, VERDICT_FAILED, 0, 0, "HTTP 100"},
		/* Timeouts and rate limits are retried. */
		{408, false, -1, NULL, 1, 5, 3600, VERDICT_RETRY, 500, 1500, "HTTP 408"},
		{429, false, -1, NULL, 1, 5, 3600, VERDICT_RETRY, 500, 1500, "HTTP 429"},
		{429, false, 120, "slow down", 1, 5, 3600, VERDICT_RETRY, 120000, 132000, "HTTP 429: slow down"},
		{406, false, 60, NULL, 2, 5, 3600, VERDICT_RETRY, 60000, 66000, "HTTP 406"},
		{406, false, -1, NULL, 3, 5, 3600, VERDICT_RETRY, 2000, 6000, "HTTP 406"},
		{500, false, -1, "oops", 1, 5, 3600, VERDICT_RETRY, 500, 1500, "HTTP 500: oops"},
		{503, false, 0, NULL, 4, 5, 3600, VERDICT_RETRY, 4000, 12000, "HTTP 503"},
		{599, false, -1, NULL, 1, 5, 3600, VERDICT_RETRY, 500, 1500, "HTTP 599"},
		/* The backoff doubles up to an hour. */
		{502, false, -1, NULL, 12, 100, 86400, VERDICT_RETRY, 1024000, 3072000, "HTTP 502"},
		{502, false, -1, NULL, 13, 100, 86400, VERDICT_RETRY, 1800000, 5400000, "HTTP 502"},
		{502, false, -1, NULL, 60, 100, 86400, VERDICT_RETRY, 1800000, 5400000, "HTTP 502"},
		/* No answer: retried, unless the address was refused. */
		{0, false, -1, "timed out after 30000 ms", 1, 5, 3600, VERDICT_RETRY, 500, 1500, "timed out after 30000 ms"},
		{0, false, -1, "", 1, 5, 3600, VERDICT_RETRY, 500, 1500, "no response"},
		{0, false, -1, NULL, 1, 5, 3600, VERDICT_RETRY, 500, 1500, "no response"},
		{0, true, -1, "address refused", 1, 5, 3600, VERDICT_FAILED, 0, 0, "address refused"},
		/* The last attempt, or none allowed. */
		{503, false, -1, "busy", 5, 5, 3600, VERDICT_FAILED, 8000, 24000, "gave up after 5 attempts; last: HTTP 503: busy"},
		{0, false, -1, "no route", 1, 1, 3600, VERDICT_FAILED, 500, 1500, "gave up after 1 attempts; last: no route"},
		{429, false, 10, NULL, 1, 0, 3600, VERDICT_FAILED, 10000, 11000, "HTTP 429"},
		/* A retry after the TTL. */
		{503, false, 120, NULL, 1, 5, 60, VERDICT_EXPIRED, 120000, 132000, "TTL ran out before a retry; last: HTTP 503"},
		{500, false, -1, NULL, 1, 5, 0, VERDICT_EXPIRED, 500, 1500, "TTL ran out before a retry; last: HTTP 500"},
		{500, false, -1, NULL, 1, 5, -5, VERDICT_EXPIRED, 500, 1500, "TTL ran out before a retry; last: HTTP 500"},
	};
	Verdict		v;
	PushAnswer	a;
	VerdictBudget b;
	char		longbody[4000];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
	{
		for (int j = 0; j < 2; j++)
		{
			double		jitter = j == 0 ? 0.0 : 0.999999;

			a.status = rows[i].status;
			a.refused_address = rows[i].refused;
			a.retry_after = rows[i].retry_after;
			a.text = rows[i].text;
			a.text_len = rows[i].text ? strlen(rows[i].text) : 0;
			a.description = NULL;
			a.ascii_only = false;
			b.attempts = rows[i].attempts;
			b.max_attempts = rows[i].max_attempts;
			b.us_left = rows[i].s_left * 1000000;
			verdict_judge(&a, &b, jitter, &v);
			CHECK(v.kind == rows[i].kind && v.status == rows[i].status,
				  "row %zu (HTTP %ld, attempt %d of %d): kind %d, expected %d",
				  i, rows[i].status, rows[i].attempts, rows[i].max_attempts, (int) v.kind, (int) rows[i].kind);
			CHECK(strcmp(v.reason, rows[i].reason) == 0, "row %zu: reason \"%s\", expected \"%s\"",
				  i, v.reason, rows[i].reason);
			if (rows[i].max_delay_ms > 0)
				CHECK(j == 0 ? v.retry_delay_ms == rows[i].min_delay_ms :
					  v.retry_delay_ms > rows[i].max_delay_ms * 0.999 && v.retry_delay_ms < rows[i].max_delay_ms,
					  "row %zu, jitter %g: delay %.1f ms, expected %s %.0f", i, jitter, v.retry_delay_ms,
					  j == 0 ? "" : "just below", j == 0 ? rows[i].min_delay_ms : rows[i].max_delay_ms);
			else
				CHECK(v.retry_delay_ms == 0, "row %zu: no delay, got %.1f", i, v.retry_delay_ms);
		}
	}

	/* The TTL's edge: a retry due exactly when it runs out still goes. */
	a = (PushAnswer) {.status = 503, .retry_after = 10};
	b = (VerdictBudget) {1, 5, 10 * 1000000};
	verdict_judge(&a, &b, 0.0, &v);
	CHECK(v.kind == VERDICT_RETRY, "a retry at the TTL's last microsecond");
	b.us_left--;
	verdict_judge(&a, &b, 0.0, &v);
	CHECK(v.kind == VERDICT_EXPIRED, "a retry a microsecond after the TTL");

	/* A push service's text is shown as valid text, and no longer than a reason holds. */
	a = (PushAnswer) {.status = 400, .retry_after = -1, .text = "bad \xff\xfe byte", .text_len = 11};
	verdict_judge(&a, &b, 0.0, &v);
	CHECK(v.kind == VERDICT_FAILED && strstr(v.reason, "\xff") == NULL && strncmp(v.reason, "HTTP 400: bad ", 14) == 0,
		  "invalid UTF-8 escaped: %s", v.reason);
	a = (PushAnswer) {.status = 400, .retry_after = -1, .text = "caf\xc3\xa9", .text_len = 5, .ascii_only = true};
	verdict_judge(&a, &b, 0.0, &v);
	CHECK(strstr(v.reason, "\xc3") == NULL, "non-ASCII escaped for a non-UTF-8 database: %s", v.reason);
	memset(longbody, 'x', sizeof(longbody));
	a = (PushAnswer) {.status = 503, .retry_after = -1, .text = longbody, .text_len = sizeof(longbody)};
	b = (VerdictBudget) {5, 5, 3600 * 1000000LL};
	verdict_judge(&a, &b, 0.0, &v);
	CHECK(v.kind == VERDICT_FAILED && strlen(v.reason) < VERDICT_REASON_MAX &&
		  strlen(v.reason) >= VERDICT_TEXT_MAX, "a long body: reason of %zu bytes", strlen(v.reason));

	/* WNS's reason comes in a header; a long one is cut, not overrun. */
	a = (PushAnswer) {.status = 406, .retry_after = 60, .description = "The channel is throttled"};
	b = (VerdictBudget) {1, 5, 3600 * 1000000LL};
	verdict_judge(&a, &b, 0.0, &v);
	CHECK(v.kind == VERDICT_RETRY && v.retry_delay_ms == 60000 &&
		  strcmp(v.reason, "HTTP 406 (X-WNS-Error-Description: The channel is throttled)") == 0,
		  "WNS throttling: %s", v.reason);
	a = (PushAnswer) {.status = 400, .retry_after = -1, .text = "{}", .text_len = 2, .description = "Invalid\x01channel"};
	verdict_judge(&a, &b, 0.0, &v);
	CHECK(v.kind == VERDICT_FAILED && strncmp(v.reason, "HTTP 400 (X-WNS-Error-Description: Invalid", 42) == 0 &&
		  strchr(v.reason, '\x01') == NULL && strstr(v.reason, "): {}") != NULL, "WNS reason and a body: %s", v.reason);
	memset(longbody, 'y', sizeof(longbody));
	longbody[sizeof(longbody) - 1] = '\0';
	a = (PushAnswer) {.status = 400, .retry_after = -1, .description = longbody};
	verdict_judge(&a, &b, 0.0, &v);
	CHECK(strlen(v.reason) < 64 + VERDICT_DESCRIPTION_MAX, "a long WNS reason is cut: %zu bytes", strlen(v.reason));
	a = (PushAnswer) {.status = 0, .retry_after = -1, .text = "timed out", .text_len = 9, .description = "stale"};
	verdict_judge(&a, &b, 0.0, &v);
	CHECK(strcmp(v.reason, "timed out") == 0, "no answer, no header: %s", v.reason);

	CHECK(strcmp(verdict_outcome_name(VERDICT_DELIVERED), "delivered") == 0 &&
		  strcmp(verdict_outcome_name(VERDICT_EXPIRED), "expired") == 0 &&
		  strcmp(verdict_outcome_name(VERDICT_GONE), "failed") == 0 &&
		  strcmp(verdict_outcome_name(VERDICT_RETRY), "failed") == 0 &&
		  strcmp(verdict_outcome_name(VERDICT_FAILED), "failed") == 0, "history outcome names");
}

/* Subjects Apple's push service would refuse are refused up front. */
static void
test_subjects(void)
{
	static const char *const good[] = {
		"mailto:admin@example.com", "mailto:ops@shop.example", "mailto:first.last+push@mail.example.co.uk",
		"mailto:o'brien@example.org", "mailto:x@a-b.example", "mailto:x@xn--bcher-kva.example",
		"https://example.com", "https://example.com/contact", "https://push.example.com:8443/x?y=1#z",
		"https://EXAMPLE.COM/",
	};
	static const char *const bad[] = {
		"", "admin@example.com", "mailto:", "https://", "http://example.com",
		"mailto:admin@localhost", "mailto:admin@LOCALHOST", "mailto:admin@host.localhost",
		"mailto:admin@push.invalid", "mailto:admin@printer.local", "mailto:a@b.test", "mailto:a@corp.internal",
		"mailto:admin@server", "mailto: <admin@example.com>", "mailto:<admin@example.com>",
		"mailto:Admin <admin@example.com>", "mailto:admin@example.com ", "mailto:a@b@example.com",
		"mailto:@example.com", "mailto:admin@", "mailto:admin", "mailto:.admin@example.com",
		"mailto:ad..min@example.com", "mailto:admin.@example.com", "mailto:admin@-example.com",
		"mailto:admin@example-.com", "mailto:admin@example..com", "mailto:admin@.example.com",
		"mailto:admin@example.com.", "mailto:admin@10.0.0.1", "mailto:admin@[127.0.0.1]",
		"mailto:admin@example.com,other@example.com", "mailto:admin@example.com?subject=hi",
		"mailto:adm\xc3\xa9n@example.com", "mailto:admin@ex_ample.com",
		"https://localhost", "https://localhost:8443/x", "https://127.0.0.1/", "https://[::1]/",
		"https://example", "https://site.invalid/", "https://user@example.com/",
		"https://example.com/a b", "https://example.com/<x>", "https://exa mple.com",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
	{
		const char *problem = vapid_subject_problem(good[i]);

		CHECK(problem == NULL, "%s refused: %s", good[i], problem);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(vapid_subject_problem(bad[i]) != NULL, "%s accepted", bad[i]);
}

#define MS 1000					/* HostTime is in microseconds */

/*
 * Which host may start a request, and what waits when it may not
 * (host_rules.h), case by case, with webpush.max_in_flight 100 (a quiet
 * share of 50, a probe share of 10), 20 per host, webpush.timeout 30 s and
 * the clock at 100 s.
 */
static void
test_host_rules(void)
{
	const HostTime now = 100 * 1000 * MS;
	HostRoom	room;
	HostFacts	h;
	double		delay;

#define RESET_ROOM() \
	(room = (HostRoom) {.max_in_flight = 100, .max_in_flight_per_host = 20, \
						.timeout_ms = 30000, .collected_at = now})

	RESET_ROOM();
	CHECK(host_quiet_share(&room) == 50 && host_probe_share(&room) == 10, "shares of 100");
	room.max_in_flight = 5;
	CHECK(host_quiet_share(&room) == 2 && host_probe_share(&room) == 1, "shares of 5");
	room.max_in_flight = 1;
	CHECK(host_quiet_share(&room) == 1 && host_probe_share(&room) == 1, "shares of 1 are at least 1");

	/* A host never heard from: quiet, may start while the quiet share has room. */
	RESET_ROOM();
	h = (HostFacts) {0};
	CHECK(!host_answering(&h, &room, now) && !host_stalled(&h, &room, now), "a new host is quiet, not stalled");
	CHECK(host_may_start(&h, &room, 0, now), "a new host starts");
	room.quiet_in_flight = 49;
	CHECK(host_may_start(&h, &room, 49, now), "the quiet share's last place");

	/* The quiet share full: a first request still goes, within the probe share. */
	room.quiet_in_flight = 50;
	CHECK(host_may_start(&h, &room, 50, now), "a first request beyond the quiet share");
	room.quiet_in_flight = 59;
	CHECK(host_may_start(&h, &room, 59, now), "the probe share's last place");
	room.quiet_in_flight = 60;
	CHECK(!host_may_start(&h, &room, 60, now), "no place left for quiet hosts");
	CHECK(!host_may_wait(&h, &room, now, &delay) && delay == 30000 && h.room_released && room.room_released,
		  "goes back for webpush.timeout, noted for release when room comes");

	/* A quiet host that has a request out gets no second one beyond the share. */
	RESET_ROOM();
	h = (HostFacts) {.in_flight = 1, .last_progress = now};
	room.quiet_in_flight = 50;
	CHECK(!host_may_start(&h, &room, 50, now), "one probe per quiet host");

	/* Quiet with its first requests out: parks when it is the only quiet one. */
	room.quiet_in_flight = 1;
	h.nparked = 0;
	CHECK(host_may_wait(&h, &room, now, &delay), "the only quiet host parks");
	room.quiet_in_flight = 7;
	CHECK(!host_may_wait(&h, &room, now, &delay) && delay == HOST_STALL_MS && !h.room_released && !h.stall_released,
		  "with other quiet hosts: back for a second");

	/* Answering: starts whatever quiet hosts hold, up to its own limit and the total. */
	RESET_ROOM();
	h = (HostFacts) {.in_flight = 5, .last_progress = now - 500 * MS, .answered = true};
	room.quiet_in_flight = 60;
	CHECK(host_answering(&h, &room, now) && host_may_start(&h, &room, 70, now), "an answering host starts");
	CHECK(!host_may_start(&h, &room, 100, now), "not beyond webpush.max_in_flight");
	h.in_flight = 20;
	CHECK(!host_may_start(&h, &room, 70, now), "not beyond webpush.max_in_flight_per_host");
	CHECK(host_may_wait(&h, &room, now, &delay), "an answering host's request parks");
	CHECK(host_quiet_in_flight(&h, &room, now) == 0, "an answering host holds nothing of the quiet share");

	/* Stalled: requests out and none finished for a second. */
	h = (HostFacts) {.in_flight = 3, .last_progress = now - HOST_STALL_MS * MS + 1, .answered = true};
	CHECK(!host_stalled(&h, &room, now), "999.999 ms without an answer is not a stall");
	CHECK(host_ms_until_stall(&h, now) == 2, "a stall comes in 2 ms (rounded up), not %ld", host_ms_until_stall(&h, now));
	h.last_progress = now - HOST_STALL_MS * MS;
	CHECK(host_stalled(&h, &room, now) && !host_answering(&h, &room, now), "a second without an answer is");
	CHECK(host_quiet_in_flight(&h, &room, now) == 3, "a stalled host's requests count as quiet");
	CHECK(host_ms_until_stall(&h, now) == 2, "just stalled: 2 ms, not %ld", host_ms_until_stall(&h, now));
	h.last_progress = now - 2 * HOST_STALL_MS * MS;
	CHECK(host_ms_until_stall(&h, now) == 1, "long stalled: look again at once");
	room.quiet_in_flight = 0;
	CHECK(host_may_start(&h, &room, 3, now), "a stalled host starts within the quiet share");
	room.quiet_in_flight = 50;
	CHECK(!host_may_start(&h, &room, 53, now), "but not beyond it (it has requests out)");
	CHECK(!host_may_wait(&h, &room, now, &delay) && delay == 30000 && h.stall_released && !h.room_released,
		  "a stalled host's request goes back for webpush.timeout, noted for release at its next answer");

	/* Silence is measured up to the last collection, not to now. */
	h = (HostFacts) {.in_flight = 3, .last_progress = now - 5000 * MS, .answered = true};
	room.collected_at = now - 4500 * MS;
	CHECK(!host_stalled(&h, &room, now) && host_answering(&h, &room, now),
		  "a worker that has not looked for 4.5 s does not blame the host");
	room.collected_at = now + 1000 * MS;
	CHECK(host_stalled(&h, &room, now), "a collection after now: silence up to now");
	h.in_flight = 0;
	CHECK(!host_stalled(&h, &room, now), "nothing in flight: never stalled");

	/* A host whose last request got no answer is quiet again. */
	RESET_ROOM();
	h = (HostFacts) {.in_flight = 0, .last_progress = now, .answered = false};
	room.quiet_in_flight = 55;
	CHECK(host_may_start(&h, &room, 55, now) && !host_answering(&h, &room, now), "timed out: one probe");
	h.in_flight = 1;
	CHECK(!host_may_start(&h, &room, 56, now), "and only one");

	/* Many silent hosts: each holds one probe, and together no more than the shares. */
	RESET_ROOM();
	{
		int			started = 0;

		for (int i = 0; i < 200; i++)
		{
			HostFacts	silent = {0};

			if (host_may_start(&silent, &room, room.quiet_in_flight, now))
			{
				started++;
				room.quiet_in_flight++;
			}
		}
		CHECK(started == 60, "200 new hosts: 60 start (quiet 50 + probes 10), not %d", started);
		h = (HostFacts) {.in_flight = 1, .last_progress = now, .answered = true};
		CHECK(host_may_start(&h, &room, 60, now), "an answering host still starts beside them");
	}
#undef RESET_ROOM
}

/* webpush.host_rates: parsing, and which entry a push service gets. */
static void
test_host_rates(void)
{
	static const struct
	{
		const char *text;
		int			ok;
		double		per_second;	/* of the first entry */
		int			burst;
	}			parses[] = {
		{"", 1, 0, 0},
		{"fcm.googleapis.com=10000/20000", 1, 10000, 20000},
		{" a.example = 20 / 5 ", 0, 0, 0},	/* no spaces around / */
		{"a.example=20/5, *.notify.windows.com=500", 1, 20, 5},
		{"a.example=2.5", 1, 2.5, 3},	/* the burst: a second's worth, rounded up */
		{"a.example=0.01", 1, 0.01, 1},
		{"a.example=0.001", 0, 0, 0},
		{"a.example=0", 0, 0, 0},
		{"a.example=1000000/1000000", 1, 1000000, 1000000},
		{"a.example=1000001", 0, 0, 0},
		{"a.example=20/0", 0, 0, 0},
		{"a.example=20/1.5", 0, 0, 0},
		{"a.example=20/", 0, 0, 0},
		{"a.example=2.", 0, 0, 0},
		{"a.example=-1", 0, 0, 0},
		{"a.example=20x", 0, 0, 0},
		{"a.example=20,", 0, 0, 0},
		{"=20", 0, 0, 0},
		{"a.example 20", 0, 0, 0},
	};
	HostRates	rates;
	const HostRate *r;

	for (size_t i = 0; i < sizeof(parses) / sizeof(parses[0]); i++)
	{
		int			ok = host_rates_parse(parses[i].text, &rates) == NULL;

		CHECK(ok == parses[i].ok, "host_rates_parse(\"%s\")", parses[i].text);
		if (ok && parses[i].per_second > 0)
			CHECK(rates.rates[0].per_second == parses[i].per_second &&
				  rates.rates[0].burst == parses[i].burst,
				  "host_rates_parse(\"%s\"): %g/%d", parses[i].text,
				  rates.rates[0].per_second, rates.rates[0].burst);
	}
	CHECK(host_rates_parse("a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1,j=1,k=1,l=1,m=1,n=1,o=1,p=1,q=1",
						   &rates) != NULL, "17 entries refused");
	CHECK(host_rates_parse("*.notify.windows.com=500/50, Push.Example=20/5, push.example:8443=7",
						   &rates) == NULL, "parses");
	r = host_rate_for(&rates, "https://db5p.notify.windows.com");
	CHECK(r != NULL && r->per_second == 500 && r->burst == 50, "in a domain");
	r = host_rate_for(&rates, "https://push.example");
	CHECK(r != NULL && r->per_second == 20, "a host, any case");
	r = host_rate_for(&rates, "https://push.example:8443");
	CHECK(r != NULL && r->per_second == 7 && r->burst == 7, "host:port wins");
	CHECK(host_rate_for(&rates, "https://fcm.googleapis.com") == NULL, "no entry: no rate");
}

/*
 * The token bucket (push/host_rates.h, "Rates"): a burst, then the rate; what
 * waits parked and what goes back; a pause for a Retry-After and the ramp
 * after it.
 */
static void
test_rates(void)
{
	const HostTime t0 = 1000 * 1000 * MS;
	RateLimit	limit = {.per_second = 20, .burst = 5};
	RateLimit	none = {0};
	RateBucket	b = {0};
	HostTime	at;
	HostTime	last = 0;
	int			sent;

	/* Full: a burst of 5 at once, then one every 50 ms. */
	for (int i = 0; i < 5; i++)
	{
		at = rate_next(&b, &limit, t0);
		CHECK(at == t0, "burst request %d goes at once", i);
		rate_take(&b, &limit, at);
	}
	at = rate_next(&b, &limit, t0);
	CHECK(at == t0 + 50 * MS, "the 6th waits for the next token: %lld ms",
		  (long long) ((at - t0) / MS));
	rate_take(&b, &limit, at);
	CHECK(rate_next(&b, &limit, t0) == t0 + 100 * MS, "the 7th 50 ms after the 6th");

	/* Requests arriving one by one over a minute go at the rate, burst aside. */
	b = (RateBucket) {0};
	sent = 0;
	for (HostTime now = t0; now < t0 + 60000 * MS; now += 7 * MS)
	{
		/* Taken within the park horizon: the worker's parked requests. */
		while ((at = rate_next(&b, &limit, now)) <= now + RATE_PARK_MS * MS &&
			   at < t0 + 60000 * MS && sent <= 100000)
		{
			rate_take(&b, &limit, at);
			CHECK(at >= last, "in order");
			last = at;
			sent++;
		}
	}
	CHECK(sent >= 20 * 60 + 4 - 1 && sent <= 20 * 60 + 5, "a minute at 20/s with a burst of 5: %d", sent);

	/* Sent back: spread at the rate after the tokens spoken for. */
	b = (RateBucket) {0};
	for (int i = 0; i < 25; i++)
		rate_take(&b, &limit, rate_next(&b, &limit, t0));
	at = rate_next(&b, &limit, t0);
	CHECK(at > t0 + RATE_PARK_MS * MS, "a second of tokens spoken for: %lld ms",
		  (long long) ((at - t0) / MS));
	{
		HostTime	d1 = rate_defer(&b, &limit, at);
		HostTime	d2 = rate_defer(&b, &limit, at);
		HostTime	d3 = rate_defer(&b, &limit, at);

		CHECK(d1 == at && d2 == at + 50 * MS && d3 == at + 100 * MS,
			  "sent back one token apart: %lld %lld %lld", (long long) ((d1 - t0) / MS),
			  (long long) ((d2 - t0) / MS), (long long) ((d3 - t0) / MS));
		CHECK(rate_next(&b, &limit, t0) == at, "sending back takes no token");
		CHECK(rate_defer(&b, &limit, t0 + 60000 * MS) == t0 + 60000 * MS,
			  "a later time than the spread: that time");
	}

	/* No rate: always now. */
	b = (RateBucket) {0};
	for (int i = 0; i < 1000; i++)
		rate_take(&b, &none, t0);
	CHECK(rate_next(&b, &none, t0) == t0 && rate_defer(&b, &none, t0) == t0, "no rate, no wait");

	/* A 429 with Retry-After 2: nothing for 2 s, then half the rate, growing to full in 10 s. */
	b = (RateBucket) {0};
	rate_take(&b, &limit, t0);
	rate_pause(&b, t0, t0 + 2000 * MS);
	at = rate_next(&b, &limit, t0);
	CHECK(at == t0 + 2000 * MS, "paused until the Retry-After: %lld ms", (long long) ((at - t0) / MS));
	rate_take(&b, &limit, at);
	CHECK(rate_next(&b, &limit, at) == at + 100 * MS, "then half the rate, no burst: %lld ms",
		  (long long) ((rate_next(&b, &limit, at) - at) / MS));
	CHECK(rate_at(&b, &limit, t0 + 7000 * MS) == 15, "half way up the ramp: 3/4 of the rate");
	CHECK(rate_at(&b, &limit, t0 + 12000 * MS) == 20, "the full rate after the ramp");
	rate_pause(&b, t0 + 100 * MS, t0 + 1000 * MS);
	CHECK(b.paused_until == t0 + 2000 * MS, "a nearer Retry-After does not shorten the pause");
	rate_pause(&b, t0 + 100 * MS, t0 + 3000 * MS);
	CHECK(rate_next(&b, &limit, t0) == t0 + 3000 * MS, "a further one lengthens it");
	CHECK(rate_defer(&b, &limit, rate_next(&b, &limit, t0)) >= t0 + 3000 * MS,
		  "what goes back comes back after the pause");

	/* Without a rate, a host is paused alike, then unlimited again. */
	b = (RateBucket) {0};
	rate_pause(&b, t0, t0 + 2000 * MS);
	CHECK(rate_next(&b, &none, t0) == t0 + 2000 * MS, "a host without a rate is paused");
	CHECK(rate_next(&b, &none, t0 + 2001 * MS) == t0 + 2001 * MS, "and then unlimited");
	rate_pause(&b, t0, t0);
	CHECK(b.paused_until == t0 + 2000 * MS, "a Retry-After in the past changes nothing");

	/* After the ramp the burst comes back once the bucket has filled. */
	b = (RateBucket) {0};
	rate_pause(&b, t0, t0 + 1000 * MS);
	{
		HostTime	later = t0 + 60000 * MS;

		for (int i = 0; i < 5; i++)
			rate_take(&b, &limit, rate_next(&b, &limit, later));
		CHECK(rate_next(&b, &limit, later) == later + 50 * MS, "a full bucket again after the ramp");
	}
}

/*
 * Whether a message fits under a user's frequency cap (cap_rules.h): a
 * message counts once however many devices it reached, one that counts
 * already always fits, and one over the cap waits until enough of the
 * oldest have left the window.
 */
static void
test_cap_rules(void)
{
	const CapTime s = 1000 * MS;	/* a second */
	const CapTime now = 1000 * s;
	CapCounted	c[8];
	CapTime		room = 0;
	char		text[64];

	CHECK(cap_allows(c, 0, 7, 1, 10 * s, now, &room), "nothing counted: a cap of 1 fits one");

	/* Two messages, the first to two devices: 2 count, not 3. */
	c[0] = (CapCounted) {1, now - 5 * s};
	c[1] = (CapCounted) {2, now - 3 * s};
	c[2] = (CapCounted) {1, now - 4 * s};
	CHECK(cap_allows(c, 3, 3, 3, 10 * s, now, &room), "two messages on three devices: a third fits under 3");
	c[0] = (CapCounted) {1, now - 5 * s};
	c[1] = (CapCounted) {2, now - 3 * s};
	c[2] = (CapCounted) {1, now - 4 * s};
	room = 0;
	CHECK(!cap_allows(c, 3, 3, 2, 10 * s, now, &room), "two messages count against a cap of 2");
	/* Message 1 counts at its latest delivery (now - 4 s), so room at now + 6 s. */
	CHECK(room == now + 6 * s, "room when the oldest leaves the window: %lld s from now",
		  (long long) ((room - now) / s));

	/* A message counted already goes to the user's other devices. */
	c[0] = (CapCounted) {1, now - 5 * s};
	c[1] = (CapCounted) {2, now - 3 * s};
	CHECK(cap_allows(c, 2, 2, 2, 10 * s, now, &room), "a counted message fits at the cap");
	CHECK(cap_allows(c, 2, 1, 1, 10 * s, now, &room), "and over it");

	/* A cap lowered below what counts: room when enough have left. */
	for (int i = 0; i < 5; i++)
		c[i] = (CapCounted) {10 + i, now - (9 - i) * s};	/* at -9, -8, -7, -6, -5 s */
	CHECK(!cap_allows(c, 5, 99, 2, 10 * s, now, &room), "five count against a cap of 2");
	CHECK(room == now + 4 * s, "room once four have left: at -6 s + 10 s, not %lld s",
		  (long long) ((room - now) / s));

	/* A count that lags (the window ended already): look again soon, not in the past. */
	c[0] = (CapCounted) {1, now - 20 * s};
	CHECK(!cap_allows(c, 1, 2, 1, 10 * s, now, &room) && room > now, "never a time already past");

	cap_window_text(3 * s, text, sizeof(text));
	CHECK(strcmp(text, "00:00:03") == 0, "3 s as %s", text);
	cap_window_text(3600 * s, text, sizeof(text));
	CHECK(strcmp(text, "01:00:00") == 0, "1 h as %s", text);
	cap_window_text(86400 * s, text, sizeof(text));
	CHECK(strcmp(text, "1 day") == 0, "1 day as %s", text);
	cap_window_text(2 * 86400 * s + 1800 * s, text, sizeof(text));
	CHECK(strcmp(text, "2 days 00:30:00") == 0, "2 days and a half hour as %s", text);
}

/*
 * The book of deliveries let through under frequency caps, which the
 * workers share (cap_book.h): a hold counts for its user until recorded;
 * recorded as delivered, it counts on only for claims older than the
 * record; it goes when its owner stops; forgotten holds make older claims
 * unsure; a full book refuses a hold.
 */
static void
test_cap_book(void)
{
	const int64_t s = 1000 * MS;	/* a second */
	const int64_t t = 1000 * s;
	CapBook    *b = malloc(cap_book_size(64));
	CapBookCounted out[8];
	int			i;

	cap_book_init(b, 64, 10 * s);
	CHECK(cap_book_count(b, 1, 42, 0, t, out, 8) == 0, "an empty book counts nothing");

	/* Worker 100 lets message 7 through to user 42 of database 1, on two devices. */
	CHECK(cap_book_take(b, 1, 42, 7, 70, t, 100) && cap_book_take(b, 1, 42, 7, 71, t, 100), "two holds taken");
	CHECK(cap_book_count(b, 1, 42, 0, t, out, 8) == 2 && out[0].message_id == 7 && out[0].at == t,
		  "both count for the user, at the time they were let through");
	CHECK(cap_book_count(b, 1, 43, 0, t, out, 8) == 0, "not for another user");
	CHECK(cap_book_count(b, 2, 42, 0, t, out, 8) == 0, "nor for the same user in another database");
	CHECK(cap_book_count(b, 1, 42, 0, t, out, 1) == 2, "too little room: how many there are");

	/* Recorded as delivered at epoch 5; and the other device's failed. */
	CHECK(!cap_book_recorded(b, 1, 42, 7, 70, 101, true, 5, t + s), "another worker's hold is not ours to record");
	CHECK(cap_book_recorded(b, 1, 42, 7, 70, 100, true, 5, t + s), "recorded as delivered");
	CHECK(cap_book_recorded(b, 1, 42, 7, 71, 100, false, 0, t + s), "recorded as failed");
	CHECK(cap_book_count(b, 1, 42, 4, t + s, out, 8) == 1 && out[0].message_id == 7,
		  "a claim older than the record cannot see it in the history: the hold counts for it");
	CHECK(cap_book_count(b, 1, 42, 5, t + s, out, 8) == 0, "a claim at the record's epoch sees the history");
	CHECK(cap_book_used(b) == 1, "the failed delivery's hold is gone");

	/* A worker stops: its holds not recorded go, the recorded stay. */
	CHECK(cap_book_take(b, 1, 42, 8, 70, t + s, 100) && cap_book_take(b, 1, 42, 9, 70, t + s, 200), "two more");
	CHECK(cap_book_drop_owner(b, 100) == 1, "worker 100's one unrecorded hold goes");
	CHECK(cap_book_count(b, 1, 42, 0, t + s, out, 8) == 2, "the recorded one and worker 200's count");
	CHECK(cap_book_drop_owner(b, 200) == 1 && cap_book_used(b) == 1, "worker 200's goes too");

	/* Kept for 10 s: then forgotten, and claims older than it are unsure. */
	CHECK(cap_book_count(b, 1, 42, 4, t + 11 * s, out, 8) == CAP_BOOK_UNSURE,
		  "after the keep, a claim older than the forgotten record is unsure");
	CHECK(cap_book_count(b, 1, 42, 5, t + 11 * s, out, 8) == 0, "one at its epoch or later is not");
	CHECK(cap_book_used(b) == 0, "forgotten");

	/* Full: 64 holds not recorded; a recorded one gives its place up. */
	cap_book_init(b, 64, 10 * s);
	for (i = 0; i < 64; i++)
		(void) cap_book_take(b, 3, (uint64_t) i, i, 1, t, 100);
	CHECK(cap_book_used(b) == 64 && !cap_book_take(b, 3, 99, 99, 1, t, 100), "a full book refuses");
	CHECK(cap_book_recorded(b, 3, 5, 5, 1, 100, true, 9, t), "one recorded as delivered");
	CHECK(cap_book_take(b, 3, 99, 99, 1, t, 100), "its place is taken before its keep ends");
	CHECK(cap_book_count(b, 3, 5, 8, t, out, 8) == CAP_BOOK_UNSURE, "claims older than it are unsure");
	CHECK(cap_book_count(b, 3, 6, 0, t, out, 8) == 1, "another user's claims are not, at its count");
	free(b);
}

int
main(void)
{
	test_b64();
	test_address_classes();
	test_endpoints();
	test_rfc8291();
	test_ephemeral_ecdh();
	test_ephemeral_ecdh_batch();
	test_ece_prepared();
	test_random_pool();
	test_retry_after();
	test_payload_limits();
	test_subscription_check();
	test_vapid();
	test_vapid_shared();
	test_safe_text();
	test_receipt();
	test_verdicts();
	test_subjects();
	test_host_rules();
	test_host_rates();
	test_rates();
	test_cap_rules();
	test_cap_book();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
