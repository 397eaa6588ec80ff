/*
 * verdict.h
 *		What a push service's answer means for a delivery (PROTOCOL.md,
 *		Responses): delivered, gone, failed, expired, or tried again after a
 *		delay.
 *
 * Plain C with no PostgreSQL or libcurl in it: the caller passes the
 * answer, the time left before the delivery's TTL runs out and the random
 * jitter, so that every rule is tested table by table without a server
 * (test/unit).  delivery.c adapts a finished HttpRequest to it.
 */
#ifndef WEBPUSH_VERDICT_H
#define WEBPUSH_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Of an answer's text (a body or an error), what a reason shows at most. */
#define VERDICT_TEXT_MAX 1024
#define VERDICT_DESCRIPTION_MAX 256
#define VERDICT_REASON_MAX 1536

/* Retries back off exponentially up to this. */
#define VERDICT_MAX_BACKOFF_MS (3600.0 * 1000)

typedef enum VerdictKind
{
	VERDICT_DELIVERED,			/* 2xx */
	VERDICT_RETRY,				/* 5xx, 408, 429, WNS's 406, timeouts,
								 * connection errors: again after
								 * retry_delay_ms */
	VERDICT_GONE,				/* 404, 410: the subscription is dead */
	VERDICT_FAILED,				/* other 4xx, refused addresses, or no
								 * retry left: permanent */
	VERDICT_EXPIRED				/* a retry would fall after the TTL */
} VerdictKind;

/* A finished request, as far as the verdict needs it. */
typedef struct PushAnswer
{
	long		status;			/* HTTP status, 0 when none was received */
	bool		refused_address;	/* blocked by the address policy */
	long		retry_after;	/* seconds from Retry-After, -1 if absent */
	const char *text;			/* the body kept (status > 0) or the error
								 * (status 0); NULL for none */
	size_t		text_len;
	const char *description;	/* a reason given in a header
								 * (X-WNS-Error-Description), or NULL */
	bool		ascii_only;		/* show non-ASCII text escaped (the
								 * database is not UTF-8) */
} PushAnswer;

/*
 * What may still happen to a delivery whose answer is retryable: another
 * attempt, unless attempts reached max_attempts or the next one would fall
 * after the TTL.  A sender that never retries passes max_attempts 0.
 */
typedef struct VerdictBudget
{
	int32_t		attempts;		/* made so far, including this one */
	int32_t		max_attempts;
	int64_t		us_left;		/* until the TTL runs out (may be < 0) */
} VerdictBudget;

typedef struct Verdict
{
	VerdictKind kind;
	int32_t		status;			/* HTTP status, 0 when none was received */
	double		retry_delay_ms; /* VERDICT_RETRY */
	char		reason[VERDICT_REASON_MAX]; /* "" for VERDICT_DELIVERED */
} Verdict;

/*
 * Judge answer.  jitter, in [0, 1), spreads the retries of many deliveries
 * told to wait alike: a backoff is scaled by 0.5 + jitter, a Retry-After
 * lengthened by up to a tenth.
 */
extern void verdict_judge(const PushAnswer *answer, const VerdictBudget *budget,
						  double jitter, Verdict *verdict);

/* The verdict's name as webpush.history.outcome spells it. */
extern const char *verdict_outcome_name(VerdictKind kind);

#endif							/* WEBPUSH_VERDICT_H */
