/*
 * cap_book.c
 *		The book of deliveries let through under frequency caps
 *		(cap_book.h).
 *
 * A fixed array of holds: the free ones in a list, the others chained by
 * bucket (a hash of the database and user), and the recorded ones also in
 * the order of their records, which is the order of their epochs and, as
 * near as the clock allows, of their times: the oldest is forgotten first.
 */
#include "shmem/cap_book.h"

typedef struct Hold
{
	uint64_t	user;
	int64_t		message_id;
	int64_t		subscription_id;
	int64_t		at;
	uint64_t	recorded;		/* the epoch of its record; 0: not yet */
	int64_t		recorded_at;
	uint32_t	db;
	int32_t		owner;
	int32_t		next;			/* in its bucket, or in the free list; -1
								 * ends it */
	int32_t		next_recorded;	/* in the order of records */
	bool		used;
} Hold;

typedef struct Bucket
{
	int32_t		first;
	uint64_t	forgotten;		/* the latest epoch of a recorded hold of
								 * this bucket forgotten */
} Bucket;

struct CapBook
{
	int32_t		nholds;
	int32_t		nbuckets;
	int32_t		free;
	int32_t		used;
	int32_t		recorded_first;
	int32_t		recorded_last;
	int64_t		keep;
	/* Then Hold holds[nholds] and Bucket buckets[nbuckets]. */
};

static inline Hold *
holds_of(CapBook *b)
{
	return (Hold *) (b + 1);
}

static inline Bucket *
bucket_of(CapBook *b, uint32_t db, uint64_t user)
{
	Bucket	   *buckets = (Bucket *) (holds_of(b) + b->nholds);
	uint64_t	h = user ^ ((uint64_t) db * UINT64_C(0x9E3779B97F4A7C15));

	return &buckets[h % (uint64_t) b->nbuckets];
}

static int
nbuckets_for(int nholds)
{
	return nholds / 4 > 0 ? nholds / 4 : 1;
}

size_t
cap_book_size(int nholds)
{
	return sizeof(CapBook) + sizeof(Hold) * (size_t) nholds +
		sizeof(Bucket) * (size_t) nbuckets_for(nholds);
}

void
cap_book_init(CapBook *b, int nholds, int64_t keep)
{
	Hold	   *holds = holds_of(b);
	Bucket	   *buckets;
	int			i;

	b->nholds = nholds;
	b->nbuckets = nbuckets_for(nholds);
	b->used = 0;
	b->recorded_first = b->recorded_last = -1;
	b->keep = keep;
	for (i = 0; i < nholds; i++)
	{
		holds[i].used = false;
		holds[i].next = i + 1 < nholds ? i + 1 : -1;
	}
	b->free = nholds > 0 ? 0 : -1;
	buckets = (Bucket *) (holds + nholds);
	for (i = 0; i < b->nbuckets; i++)
	{
		buckets[i].first = -1;
		buckets[i].forgotten = 0;
	}
}

/* Hold i leaves its bucket for the free list. */
static void
release(CapBook *b, int32_t i)
{
	Hold	   *holds = holds_of(b);
	Bucket	   *bucket = bucket_of(b, holds[i].db, holds[i].user);
	int32_t    *link = &bucket->first;

	while (*link != i)
		link = &holds[*link].next;
	*link = holds[i].next;
	holds[i].used = false;
	holds[i].next = b->free;
	b->free = i;
	b->used--;
}

/* The oldest recorded hold is forgotten: claims older than it cannot count. */
static void
forget_oldest(CapBook *b)
{
	Hold	   *holds = holds_of(b);
	int32_t		i = b->recorded_first;
	Bucket	   *bucket = bucket_of(b, holds[i].db, holds[i].user);

	b->recorded_first = holds[i].next_recorded;
	if (b->recorded_first < 0)
		b->recorded_last = -1;
	if (holds[i].recorded > bucket->forgotten)
		bucket->forgotten = holds[i].recorded;
	release(b, i);
}

int
cap_book_count(CapBook *b, uint32_t db, uint64_t user, uint64_t epoch,
			   int64_t now, CapBookCounted *out, int max)
{
	Hold	   *holds = holds_of(b);
	Bucket	   *bucket = bucket_of(b, db, user);
	int			n = 0;
	int32_t		i;

	while (b->recorded_first >= 0 &&
		   now - holds[b->recorded_first].recorded_at >= b->keep)
		forget_oldest(b);
	if (epoch < bucket->forgotten)
		return CAP_BOOK_UNSURE;
	for (i = bucket->first; i >= 0; i = holds[i].next)
	{
		const Hold *h = &holds[i];

		if (h->db != db || h->user != user || (h->recorded != 0 && h->recorded <= epoch))
			continue;
		if (n < max)
		{
			out[n].message_id = h->message_id;
			out[n].at = h->at;
		}
		n++;
	}
	return n;
}

bool
cap_book_take(CapBook *b, uint32_t db, uint64_t user, int64_t message_id,
			  int64_t subscription_id, int64_t at, int32_t owner)
{
	Hold	   *holds = holds_of(b);
	Bucket	   *bucket;
	Hold	   *h;
	int32_t		i;

	if (b->free < 0 && b->recorded_first >= 0)
		forget_oldest(b);
	if (b->free < 0)
		return false;
	i = b->free;
	h = &holds[i];
	b->free = h->next;
	h->user = user;
	h->message_id = message_id;
	h->subscription_id = subscription_id;
	h->at = at;
	h->recorded = 0;
	h->recorded_at = 0;
	h->db = db;
	h->owner = owner;
	h->next_recorded = -1;
	h->used = true;
	bucket = bucket_of(b, db, user);
	h->next = bucket->first;
	bucket->first = i;
	b->used++;
	return true;
}

bool
cap_book_recorded(CapBook *b, uint32_t db, uint64_t user, int64_t message_id,
				  int64_t subscription_id, int32_t owner, bool delivered,
				  uint64_t epoch, int64_t now)
{
	Hold	   *holds = holds_of(b);
	int32_t		i;

	for (i = bucket_of(b, db, user)->first; i >= 0; i = holds[i].next)
	{
		Hold	   *h = &holds[i];

		if (h->db != db || h->user != user || h->message_id != message_id ||
			h->subscription_id != subscription_id || h->owner != owner || h->recorded != 0)
			continue;
		if (!delivered)
		{
			release(b, i);
			return true;
		}
		h->recorded = epoch;
		h->recorded_at = now;
		h->owner = 0;
		if (b->recorded_last >= 0)
			holds[b->recorded_last].next_recorded = i;
		else
			b->recorded_first = i;
		b->recorded_last = i;
		return true;
	}
	return false;
}

int
cap_book_drop_owner(CapBook *b, int32_t owner)
{
	Hold	   *holds = holds_of(b);
	int			n = 0;
	int32_t		i;

	for (i = 0; i < b->nholds; i++)
	{
		if (holds[i].used && holds[i].recorded == 0 && holds[i].owner == owner)
		{
			release(b, i);
			n++;
		}
	}
	return n;
}

int
cap_book_used(const CapBook *b)
{
	return b->used;
}
