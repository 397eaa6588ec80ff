/*
 * vapid.c
 *		VAPID (RFC 8292): the application server's key and its signed JWTs.
 *
 * ES256 signatures come out of OpenSSL DER-encoded; JWS wants r || s with
 * each half left-padded to 32 bytes, or one signature in 256 fails to verify.
 */
#include "crypto/vapid.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "crypto/b64.h"

/* base64url of {"typ":"JWT","alg":"ES256"} */
#define VAPID_JWT_HEADER "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9"

/* Push services a worker talks to are few; a linear cache is enough. */
#define VAPID_CACHE_SIZE 64

typedef struct VapidCacheEntry
{
	char	   *origin;
	char	   *jwt;
	long long	exp;
} VapidCacheEntry;

struct VapidSigner
{
	EVP_PKEY   *key;
	uint8_t		private_raw[P256_PRIVATE_LEN];
	char	   *subject;
	char		public_b64[B64URL_ENCODED_LEN(P256_PUBLIC_LEN) + 1];
	int			next_victim;	/* round-robin eviction when full */
	VapidCacheEntry cache[VAPID_CACHE_SIZE];
};

static int
looks_like_pem(const char *text, size_t len)
{
	size_t		i = 0;

	while (i < len && isspace((unsigned char) text[i]))
		i++;
	return len - i >= 10 && memcmp(text + i, "-----BEGIN", 10) == 0;
}

VapidImportResult
vapid_import_private(const char *text, size_t len, EVP_PKEY **key_out)
{
	uint8_t		raw[P256_PRIVATE_LEN + 1];
	long		n;

	*key_out = NULL;
	if (looks_like_pem(text, len))
	{
		int			is_key;

		*key_out = p256_keypair_from_pem(text, len, &is_key);
		if (*key_out != NULL)
			return VAPID_IMPORT_OK;
		return is_key ? VAPID_IMPORT_BAD_KEY : VAPID_IMPORT_BAD_PEM;
	}

	/* Tolerate surrounding whitespace from copy and paste. */
	while (len > 0 && isspace((unsigned char) text[0]))
	{
		text++;
		len--;
	}
	while (len > 0 && isspace((unsigned char) text[len - 1]))
		len--;

	n = b64_decode(text, len, raw, sizeof(raw));
	if (n < 0)
		return (len > 64) ? VAPID_IMPORT_BAD_LENGTH : VAPID_IMPORT_BAD_FORMAT;
	if (n != P256_PRIVATE_LEN)
		return VAPID_IMPORT_BAD_LENGTH;
	*key_out = p256_keypair_from_private(raw);
	memset(raw, 0, sizeof(raw));
	return *key_out ? VAPID_IMPORT_OK : VAPID_IMPORT_BAD_KEY;
}

/* Append s to out as a JSON string body (without quotes); -1 if no room. */
static int
json_escape(const char *s, char *out, size_t cap, size_t *pos)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;
		char		buf[8];
		size_t		n;

		if (c == '"' || c == '\\')
			n = (size_t) snprintf(buf, sizeof(buf), "\\%c", c);
		else if (c < 0x20)
			n = (size_t) snprintf(buf, sizeof(buf), "\\u%04x", c);
		else
		{
			buf[0] = (char) c;
			n = 1;
		}
		if (*pos + n >= cap)
			return -1;
		memcpy(out + *pos, buf, n);
		*pos += n;
	}
	return 0;
}

long
vapid_jwt_sign(EVP_PKEY *key, const char *aud, const char *sub,
			   long long exp, char *out, size_t out_cap)
{
	char		claims[1024];
	size_t		cpos = 0;
	char		tail[32];
	size_t		pos;
	EVP_MD_CTX *md = NULL;
	unsigned char der[80];
	size_t		der_len = sizeof(der);
	const unsigned char *derp = der;
	ECDSA_SIG  *sig = NULL;
	uint8_t		rs[64];
	long		rc = -1;

	/* claims: {"aud":"...","exp":N,"sub":"..."} */
	memcpy(claims, "{\"aud\":\"", 8);
	cpos = 8;
	if (json_escape(aud, claims, sizeof(claims), &cpos) != 0)
		return -1;
	snprintf(tail, sizeof(tail), "\",\"exp\":%lld,\"sub\":\"", exp);
	if (cpos + strlen(tail) >= sizeof(claims))
		return -1;
	memcpy(claims + cpos, tail, strlen(tail));
	cpos += strlen(tail);
	if (json_escape(sub, claims, sizeof(claims), &cpos) != 0 ||
		cpos + 2 >= sizeof(claims))
		return -1;
	claims[cpos++] = '"';
	claims[cpos++] = '}';

	/* header.claims.signature */
	pos = strlen(VAPID_JWT_HEADER);
	if (pos + 1 + B64URL_ENCODED_LEN(cpos) + 1 + B64URL_ENCODED_LEN(64) + 1 > out_cap)
		return -1;
	memcpy(out, VAPID_JWT_HEADER, pos);
	out[pos++] = '.';
	pos += b64url_encode((const uint8_t *) claims, cpos, out + pos);

	md = EVP_MD_CTX_new();
	if (md == NULL ||
		EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, key, NULL) != 1 ||
		EVP_DigestSign(md, der, &der_len, (const unsigned char *) out, pos) != 1)
		goto done;

	sig = d2i_ECDSA_SIG(NULL, &derp, (long) der_len);
	if (sig == NULL ||
		BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) != 32 ||
		BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) != 32)
		goto done;

	out[pos++] = '.';
	pos += b64url_encode(rs, sizeof(rs), out + pos);
	rc = (long) pos;

done:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	return rc;
}

VapidSigner *
vapid_signer_create(const uint8_t private_key[P256_PRIVATE_LEN], const char *subject)
{
	VapidSigner *signer = calloc(1, sizeof(VapidSigner));
	uint8_t		pub[P256_PUBLIC_LEN];

	if (signer == NULL)
		return NULL;
	signer->key = p256_keypair_from_private(private_key);
	signer->subject = strdup(subject);
	if (signer->key == NULL || signer->subject == NULL ||
		p256_export_public(signer->key, pub) != 0)
	{
		vapid_signer_free(signer);
		return NULL;
	}
	memcpy(signer->private_raw, private_key, P256_PRIVATE_LEN);
	b64url_encode(pub, sizeof(pub), signer->public_b64);
	return signer;
}

void
vapid_signer_free(VapidSigner *signer)
{
	int			i;

	if (signer == NULL)
		return;
	for (i = 0; i < VAPID_CACHE_SIZE; i++)
	{
		free(signer->cache[i].origin);
		free(signer->cache[i].jwt);
	}
	EVP_PKEY_free(signer->key);
	free(signer->subject);
	memset(signer->private_raw, 0, sizeof(signer->private_raw));
	free(signer);
}

int
vapid_signer_matches(const VapidSigner *signer,
					 const uint8_t private_key[P256_PRIVATE_LEN],
					 const char *subject)
{
	return memcmp(signer->private_raw, private_key, P256_PRIVATE_LEN) == 0 &&
		strcmp(signer->subject, subject) == 0;
}

const char *
vapid_signer_public_key(const VapidSigner *signer)
{
	return signer->public_b64;
}

/* The cache's entry for origin, or NULL. */
static VapidCacheEntry *
cache_entry(VapidSigner *signer, const char *origin)
{
	for (int i = 0; i < VAPID_CACHE_SIZE; i++)
	{
		VapidCacheEntry *e = &signer->cache[i];

		if (e->origin != NULL && strcmp(e->origin, origin) == 0)
			return e;
	}
	return NULL;
}

const char *
vapid_jwt_cached(VapidSigner *signer, const char *origin, time_t now)
{
	VapidCacheEntry *e = cache_entry(signer, origin);

	if (e != NULL && e->exp - VAPID_JWT_REFRESH_MARGIN > (long long) now)
		return e->jwt;
	return NULL;
}

long
vapid_jwt_sign_new(const VapidSigner *signer, const char *origin, time_t now,
				   char *out, size_t out_cap, long long *exp)
{
	*exp = (long long) now + VAPID_JWT_LIFETIME;
	return vapid_jwt_sign(signer->key, origin, signer->subject, *exp, out, out_cap);
}

const char *
vapid_jwt_keep(VapidSigner *signer, const char *origin, const char *jwt,
			   long long exp)
{
	VapidCacheEntry *slot = cache_entry(signer, origin);

	for (int i = 0; slot == NULL && i < VAPID_CACHE_SIZE; i++)
		if (signer->cache[i].origin == NULL)
			slot = &signer->cache[i];
	if (slot == NULL)
	{
		slot = &signer->cache[signer->next_victim];
		signer->next_victim = (signer->next_victim + 1) % VAPID_CACHE_SIZE;
	}

	if (slot->origin == NULL || strcmp(slot->origin, origin) != 0)
	{
		free(slot->origin);
		slot->origin = strdup(origin);
	}
	free(slot->jwt);
	slot->jwt = strdup(jwt);
	slot->exp = exp;
	if (slot->origin == NULL || slot->jwt == NULL)
	{
		free(slot->origin);
		free(slot->jwt);
		slot->origin = slot->jwt = NULL;
		return NULL;
	}
	return slot->jwt;
}

const char *
vapid_jwt_for_origin(VapidSigner *signer, const char *origin, time_t now)
{
	const char *cached = vapid_jwt_cached(signer, origin, now);
	char		jwt[VAPID_JWT_MAX_LEN];
	long long	exp;

	if (cached != NULL)
		return cached;
	if (vapid_jwt_sign_new(signer, origin, now, jwt, sizeof(jwt), &exp) < 0)
		return NULL;
	return vapid_jwt_keep(signer, origin, jwt, exp);
}

/* SHA-256 of parts (each with its NUL: none holds one) into id. */
static int
hash_parts(const char *const *parts, int nparts, uint8_t id[VAPID_TOKEN_ID_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int len = 0;
	int			ok;

	ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
	for (int i = 0; ok && i < nparts; i++)
		ok = EVP_DigestUpdate(md, parts[i], strlen(parts[i]) + 1) == 1;
	ok = ok && EVP_DigestFinal_ex(md, id, &len) == 1 && len == VAPID_TOKEN_ID_LEN;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

int
vapid_token_id(const VapidSigner *signer, const char *origin,
			   uint8_t id[VAPID_TOKEN_ID_LEN])
{
	/*
	 * The NULs end the public key, the subject and the origin, which hold
	 * none, so no two different triples hash the same bytes.
	 */
	const char *const parts[] = {signer->public_b64, signer->subject, origin};

	return hash_parts(parts, 3, id);
}

int
vapid_audience_id(const VapidSigner *signer, const char *origin,
				  uint8_t id[VAPID_TOKEN_ID_LEN])
{
	const char *const parts[] = {"audience", signer->public_b64, origin};

	return hash_parts(parts, 3, id);
}


/* ---- The subject ---- */

/* Top-level names that are never a domain on the internet. */
static const char *const private_tlds[] = {"localhost", "invalid", "local", "test", "internal"};

/*
 * A domain name of at least two labels of letters, digits and inner
 * hyphens, whose last label is not a private one.
 */
static bool
is_public_domain(const char *name, size_t len)
{
	size_t		label_start = 0;
	int			labels = 0;
	bool		all_digits = true;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i <= len; i++)
	{
		if (i == len || name[i] == '.')
		{
			size_t		n = i - label_start;

			if (n == 0 || n > 63 || name[label_start] == '-' || name[i - 1] == '-')
				return false;
			labels++;
			if (i < len)
			{
				label_start = i + 1;
				all_digits = true;
			}
			continue;
		}
		if (!isalnum((unsigned char) name[i]) && name[i] != '-')
			return false;
		if (!isdigit((unsigned char) name[i]))
			all_digits = false;
	}
	/* A last label of digits is an IPv4 address, not a contact. */
	if (labels < 2 || all_digits)
		return false;
	for (size_t i = 0; i < sizeof(private_tlds) / sizeof(private_tlds[0]); i++)
	{
		size_t		n = strlen(private_tlds[i]);

		if (len - label_start == n && strncasecmp(name + label_start, private_tlds[i], n) == 0)
			return false;
	}
	return true;
}

/* RFC 5322's atext, and the dots between its words. */
static bool
is_local_part_char(char c)
{
	return isalnum((unsigned char) c) || (c != '\0' && strchr("!#$%&'*+/=?^_`{|}~.-", c) != NULL);
}

const char *
vapid_subject_problem(const char *subject)
{
	if (strncmp(subject, "mailto:", 7) == 0)
	{
		const char *addr = subject + 7;
		const char *at = strchr(addr, '@');
		size_t		i;

		for (i = 0; addr[i] != '\0'; i++)
			if (addr[i] != '@' && !is_local_part_char(addr[i]))
				return "The mailto: address holds a space, a bracket or another character that is not part of a bare address; Apple's push service refuses such subjects.";
		if (at == NULL || at == addr || strchr(at + 1, '@') != NULL)
			return "A mailto: subject is one address, a name and a domain joined by @.";
		if (addr[0] == '.' || at[-1] == '.' || strstr(addr, "..") != NULL)
			return "The name before the @ has a dot at its start, at its end or twice in a row.";
		if (!is_public_domain(at + 1, strlen(at + 1)))
			return "The address is not at a domain on the internet (such as localhost or a name under .invalid, .local or .test); Apple's push service refuses such subjects.";
		return NULL;
	}
	if (strncmp(subject, "https://", 8) == 0)
	{
		const char *host = subject + 8;
		size_t		len = strcspn(host, ":/?#");

		for (size_t i = 0; subject[i] != '\0'; i++)
			if ((unsigned char) subject[i] <= ' ' || (unsigned char) subject[i] >= 0x7f ||
				strchr("<>\"\\^`{|}", subject[i]) != NULL)
				return "The https: URL holds a space or a character that a URL does not.";
		if (memchr(host, '@', strcspn(host, "/?#")) != NULL)
			return "The https: URL names a user; the subject is a page or an address where the sender can be reached.";
		if (!is_public_domain(host, len))
			return "The https: URL is not at a domain on the internet (an address, localhost, or a name under .invalid, .local or .test); Apple's push service refuses such subjects.";
		return NULL;
	}
	return "The subject is a mailto: address or an https: URL where the push service can reach the sender.";
}
