/*
 * settle.c
 *		Where the worker's claims of each broadcast ended, and the settling
 *		of messages with nothing left to claim (webpush.messages.pending =
 *		false), so that no claim looks at them again.
 *
 * The claim (claim.c) reads the positions and the held messages as
 * arrays, and settles after each claim (settle_after_claim).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"

#include "queue/claim.h"
#include "queue/settle.h"
#include "support/spi_util.h"

/*
 * Where this worker's last claim of each broadcast ended.  A message's
 * first attempts are claimed in primary-key order, each claim starting
 * after the last recipient the one before took: so no claim reads again
 * the index entries of recipients already claimed, or sent and not yet
 * vacuumed away, and a million-recipient broadcast costs each claim the
 * same as its first.
 *
 * A position is only a hint.  A claim that skipped rows another
 * transaction held, a claim rolled back, or a delivery moved to another
 * subscription can leave first attempts behind it; a message is settled
 * only after a check from its first recipient finds none, and a position
 * with nothing after it is forgotten, so the next claim starts from the
 * first recipient again.  Single-recipient messages end at once and never
 * take a slot; when the slots are full the oldest gives way.
 */
typedef struct ClaimPosition
{
	int64		message_id;
	int64		next;			/* the last subscription id claimed, plus one */
} ClaimPosition;

#define CLAIM_POSITIONS 64

static ClaimPosition claim_positions[CLAIM_POSITIONS];
static int	nclaim_positions = 0;
static int	next_claim_slot = 0;

/*
 * The messages the last settling found done but could not settle, their
 * row held by another transaction (a cancel in progress, a session's
 * lock): the claim's look at the due messages passes them over, else as
 * many held at once as a claim takes would fill that look and keep every
 * newer message waiting for their holders.  Each settling of the due
 * messages looks at them again, and they leave the list once settled, or
 * found with first attempts left: while any is held, each claim settles
 * the due messages again even if it claims some, else a message that is
 * done would stay pending for as long as every claim finds something to
 * claim.  Beyond HELD_MESSAGES they are only counted (held_overflow):
 * the look at the due messages then takes that many more, which costs
 * each claim a look at each of them but lets it reach the messages behind.
 */
#define HELD_MESSAGES 1024

static int64 held_messages[HELD_MESSAGES];
static int	nheld_messages = 0;
static int	held_overflow = 0;

void
queue_forget_claim_positions(void)
{
	nclaim_positions = 0;
	next_claim_slot = 0;
	nheld_messages = 0;
	held_overflow = 0;
}

static void
note_held_message(int64 message_id)
{
	int			i;

	for (i = 0; i < nheld_messages; i++)
		if (held_messages[i] == message_id)
			return;
	if (nheld_messages < HELD_MESSAGES)
		held_messages[nheld_messages++] = message_id;
	else if (held_overflow < PG_INT32_MAX / 2)
		held_overflow++;
}

static void
forget_held_message(int64 message_id)
{
	int			i;

	for (i = 0; i < nheld_messages; i++)
		if (held_messages[i] == message_id)
		{
			held_messages[i] = held_messages[--nheld_messages];
			return;
		}
}

int
settle_held_overflow(void)
{
	return held_overflow;
}

bool
settle_held_any(void)
{
	return nheld_messages > 0 || held_overflow > 0;
}

Datum
settle_held_array(void)
{
	Datum		ids[HELD_MESSAGES];
	int			i;

	for (i = 0; i < nheld_messages; i++)
		ids[i] = Int64GetDatum(held_messages[i]);
	return PointerGetDatum(datum_array(ids, nheld_messages, INT8OID));
}

static int
claim_position_slot(int64 message_id)
{
	int			i;

	for (i = 0; i < nclaim_positions; i++)
		if (claim_positions[i].message_id == message_id)
			return i;
	return -1;
}

static void
forget_claim_position(int64 message_id)
{
	int			i = claim_position_slot(message_id);

	if (i >= 0)
		claim_positions[i] = claim_positions[--nclaim_positions];
}

static void
remember_claim_position(int64 message_id, int64 next)
{
	int			i = claim_position_slot(message_id);

	if (i < 0)
	{
		if (nclaim_positions < CLAIM_POSITIONS)
			i = nclaim_positions++;
		else
		{
			i = next_claim_slot;
			next_claim_slot = (next_claim_slot + 1) % CLAIM_POSITIONS;
		}
	}
	claim_positions[i].message_id = message_id;
	claim_positions[i].next = next;
}

void
settle_position_arrays(Datum *ids, Datum *nexts)
{
	Datum		id[CLAIM_POSITIONS];
	Datum		next[CLAIM_POSITIONS];
	int			i;

	for (i = 0; i < nclaim_positions; i++)
	{
		id[i] = Int64GetDatum(claim_positions[i].message_id);
		next[i] = Int64GetDatum(claim_positions[i].next);
	}
	*ids = PointerGetDatum(datum_array(id, nclaim_positions, INT8OID));
	*nexts = PointerGetDatum(datum_array(next, nclaim_positions, INT8OID));
}

/*
 * Settling: of the candidate messages (id, position), those with no first
 * attempt left from their position on are returned, and those of them with
 * none left at all stop being looked at (pending = false).  The first
 * check reads from the position on, the second, made once a message
 * seems done, from its first recipient.  A message's row that another
 * transaction holds is skipped (SKIP LOCKED): a cancel in progress (which
 * settles it itself), or another worker recording its copies (FOR SHARE,
 * record.c), with whom waiting would be a deadlock when each holds a
 * message the other settles; a later claim settles it.  Each message is
 * found by its key (an array, not a join), so that no plan reads the
 * table's other rows.
 */
#define SETTLE_SQL(candidates) \
	"WITH c AS (SELECT c.id, EXISTS (SELECT FROM webpush.deliveries d" \
	"   WHERE d.message_id = c.id AND d.subscription_id >= c.next" \
	"   AND d.attempts IS NULL AND d.claimed_by IS NULL) AS left_after" \
	"  FROM (" candidates ") AS c(id, next))," \
	" l AS (SELECT m.ctid, m.id FROM webpush.messages m" \
	"  WHERE m.id = ANY (ARRAY(SELECT id FROM c WHERE NOT c.left_after)) AND m.pending" \
	"  FOR NO KEY UPDATE SKIP LOCKED)," \
	" settled AS (UPDATE webpush.messages m SET pending = false" \
	"  WHERE m.ctid = ANY (ARRAY(SELECT ctid FROM l))" \
	"  AND NOT EXISTS (SELECT FROM webpush.deliveries d WHERE d.message_id = m.id" \
	"   AND d.attempts IS NULL AND d.claimed_by IS NULL)) " \
	"SELECT c.id, c.id NOT IN (SELECT id FROM l)" \
	"  AND COALESCE((SELECT m.pending FROM webpush.messages m WHERE m.id = c.id), false) AS held" \
	" FROM c WHERE NOT c.left_after"

/*
 * Forget the positions of the messages the last settling returned, but
 * those it found done and could not settle (held): their position, with
 * nothing after it, keeps each claim from reading them again from their
 * first recipient until they are settled, and they join the held messages.
 */
static void
forget_settled_positions(void)
{
	uint64		i;
	bool		isnull;

	for (i = 0; i < SPI_processed; i++)
	{
		int64		message_id = spi_get_int64((int) i, 1, &isnull);
		bool		held = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i],
													  SPI_tuptable->tupdesc, 2, &isnull));

		if (!isnull && held)
			note_held_message(message_id);
		else
		{
			forget_claim_position(message_id);
			forget_held_message(message_id);
		}
	}
}

/*
 * The positions the first attempts just claimed (claimed[0..n)) reached,
 * then the settling of their messages.
 */
static void
settle_claimed(const ClaimedMessage *claimed, int n)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[2];
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *nexts = palloc(sizeof(Datum) * n);
	int			nmessages = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		const DeliveryRef *ref = &claimed[i].ref;
		int			j = nmessages - 1;

		/* A message's rows mostly come together: look at the last first. */
		while (j >= 0 && DatumGetInt64(ids[j]) != ref->message_id)
			j--;
		if (j < 0)
		{
			j = nmessages++;
			ids[j] = Int64GetDatum(ref->message_id);
			nexts[j] = Int64GetDatum(ref->subscription_id);
		}
		else if (ref->subscription_id > DatumGetInt64(nexts[j]))
			nexts[j] = Int64GetDatum(ref->subscription_id);
	}
	/* From the last claimed to the next to claim; nothing follows the largest. */
	for (i = 0; i < nmessages; i++)
	{
		int64		last = DatumGetInt64(nexts[i]);

		nexts[i] = Int64GetDatum(last == PG_INT64_MAX ? last : last + 1);
		remember_claim_position(DatumGetInt64(ids[i]), DatumGetInt64(nexts[i]));
	}
	values[0] = PointerGetDatum(datum_array(ids, nmessages, INT8OID));
	values[1] = PointerGetDatum(datum_array(nexts, nmessages, INT8OID));
	if (SPI_execute_plan(spi_kept_plan(&plan,
								  SETTLE_SQL("SELECT * FROM ROWS FROM (pg_catalog.unnest($1),"
											 " pg_catalog.unnest($2))"),
								  2, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not update webpush.messages");
	forget_settled_positions();
}

/*
 * None claimed: the due messages may have no first attempts left (another
 * worker claimed them); those stop being looked at too.  The held
 * messages ($4) are looked at besides the first due ones (and as many
 * more as overflowed the list, $5): the list is made again from what this
 * settling finds held.  A message's position is looked up in the arrays,
 * not joined, so that the due messages are read in their index's order,
 * as far as the LIMIT, whatever the plan.
 */
#define SETTLE_DUE_CANDIDATE \
	"SELECT m.id, COALESCE(($3)[pg_catalog.array_position($2, m.id)], " FIRST_RECIPIENT ")" \
	" FROM webpush.messages m"

static void
settle_due(int limit)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[5] = {INT4OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT4OID};
	Datum		values[5];

	values[0] = Int32GetDatum(limit);
	settle_position_arrays(&values[1], &values[2]);
	values[3] = settle_held_array();
	values[4] = Int32GetDatum(held_overflow);
	if (SPI_execute_plan(spi_kept_plan(&plan,
								  SETTLE_SQL("(" SETTLE_DUE_CANDIDATE
											 " WHERE m.pending AND m.send_at <= pg_catalog.now()"
											 " AND m.id NOT IN (SELECT pg_catalog.unnest($4))"
											 " ORDER BY m.send_at, m.id LIMIT $1 + $5)"
											 " UNION ALL (" SETTLE_DUE_CANDIDATE
											 " WHERE m.id = ANY ($4) AND m.pending)"),
								  5, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not update webpush.messages");
	nheld_messages = 0;
	held_overflow = 0;
	forget_settled_positions();
}

void
settle_after_claim(const ClaimedMessage *claimed, int n, int limit)
{
	/* Held at the last settling, not at this claim's, which follows. */
	bool		owed = settle_held_any();

	if (n > 0)
		settle_claimed(claimed, n);
	if (n == 0 || owed)
		settle_due(limit);
}
