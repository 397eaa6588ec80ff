/*
 * verdict.c
 *		What a push service's answer means for a delivery (verdict.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "support/safe_text.h"
#include "worker/verdict.h"

static double
backoff_ms(int32_t attempts, double jitter)
{
	double		base = 1000.0 * pow(2.0, attempts - 1 < 30 ? attempts - 1 : 30);

	if (base > VERDICT_MAX_BACKOFF_MS)
		base = VERDICT_MAX_BACKOFF_MS;
	return base * (0.5 + jitter);
}

/*
 * "HTTP 503: <body>", with WNS's reason from its header, or the error when
 * nothing was received.  What a push service sends must be valid text
 * before it is stored or shown.
 */
static void
describe_answer(const PushAnswer *answer, char *out, size_t outlen)
{
	char		why[VERDICT_TEXT_MAX + 1];
	char		header[VERDICT_DESCRIPTION_MAX + 1];

	why[0] = '\0';
	header[0] = '\0';
	if (answer->text != NULL && answer->text_len > 0)
		safe_text(answer->text, answer->text_len, answer->ascii_only, why, sizeof(why));
	if (answer->status != 0 && answer->description != NULL && answer->description[0] != '\0')
		safe_text(answer->description, strlen(answer->description), answer->ascii_only,
				  header, sizeof(header));

	if (answer->status == 0)
		snprintf(out, outlen, "%s", why[0] ? why : "no response");
	else
		snprintf(out, outlen, "HTTP %ld%s%s%s%s%s", answer->status,
				 header[0] ? " (X-WNS-Error-Description: " : "", header, header[0] ? ")" : "",
				 why[0] ? ": " : "", why);
}

void
verdict_judge(const PushAnswer *answer, const VerdictBudget *budget,
			  double jitter, Verdict *verdict)
{
	long		status = answer->status;
	char		text[VERDICT_REASON_MAX - 64];

	verdict->status = (int32_t) status;
	verdict->retry_delay_ms = 0;
	verdict->reason[0] = '\0';

	if (status >= 200 && status < 300)
	{
		verdict->kind = VERDICT_DELIVERED;
		return;
	}

	describe_answer(answer, text, sizeof(text));
	if (status == 404 || status == 410)
	{
		verdict->kind = VERDICT_GONE;
		snprintf(verdict->reason, sizeof(verdict->reason),
				 "subscription gone: %s", text);
		return;
	}

	/*
	 * Permanent: a refused address, or a 4xx other than 408 (timeout), 429
	 * and WNS's 406 (both rate limits).
	 */
	if ((status == 0 && answer->refused_address) ||
		(status > 0 && status < 500 && status != 408 && status != 429 && status != 406))
	{
		verdict->kind = VERDICT_FAILED;
		snprintf(verdict->reason, sizeof(verdict->reason), "%s", text);
		return;
	}

	/* Retryable: when, and whether there is room for it. */
	if (answer->retry_after > 0)
	{
		/* No earlier than told; a little later spreads the herd. */
		verdict->retry_delay_ms = answer->retry_after * 1000.0 * (1.0 + 0.1 * jitter);
	}
	else
		verdict->retry_delay_ms = backoff_ms(budget->attempts, jitter);

	if (budget->max_attempts <= 0)
	{
		verdict->kind = VERDICT_FAILED;
		snprintf(verdict->reason, sizeof(verdict->reason), "%s", text);
		return;
	}
	if (budget->attempts >= budget->max_attempts)
	{
		verdict->kind = VERDICT_FAILED;
		snprintf(verdict->reason, sizeof(verdict->reason),
				 "gave up after %d attempts; last: %s", (int) budget->attempts, text);
		return;
	}
	if ((int64_t) verdict->retry_delay_ms * 1000 > budget->us_left)
	{
		verdict->kind = VERDICT_EXPIRED;
		snprintf(verdict->reason, sizeof(verdict->reason),
				 "TTL ran out before a retry; last: %s", text);
		return;
	}
	verdict->kind = VERDICT_RETRY;
	snprintf(verdict->reason, sizeof(verdict->reason), "%s", text);
}

const char *
verdict_outcome_name(VerdictKind kind)
{
	switch (kind)
	{
		case VERDICT_DELIVERED:
			return "delivered";
		case VERDICT_EXPIRED:
			return "expired";
		case VERDICT_RETRY:
		case VERDICT_GONE:
		case VERDICT_FAILED:
			return "failed";
	}
	return "failed";
}
