/*
 * signers.c
 *		VAPID signers by key id, kept for the life of the process.
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "applications.h"
#include "signers.h"

typedef struct SignerEntry
{
	int64		key_id;			/* hash key */
	VapidSigner *signer;		/* NULL unless status is SIGNER_OK */
	SignerStatus status;
	bool		checked;		/* read from the tables since signers_expire */
} SignerEntry;

static HTAB *signers = NULL;

static SignerEntry *
entry_for(int64 key_id)
{
	bool		found;
	SignerEntry *entry;

	if (signers == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(SignerEntry);
		ctl.hcxt = TopMemoryContext;
		signers = hash_create("webpush signers", 8, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(signers, &key_id, HASH_ENTER, &found);
	if (!found)
	{
		entry->signer = NULL;
		entry->status = SIGNER_FAILED;
		entry->checked = false;
	}
	return entry;
}

VapidSigner *
signer_for_key(int64 key_id, SignerStatus *status)
{
	SignerEntry *entry = entry_for(key_id);

	if (!entry->checked)
	{
		uint8		private_key[P256_PRIVATE_LEN];
		char	   *subject = NULL;

		if (!app_signing_key(key_id, private_key, &subject))
			entry->status = SIGNER_KEY_GONE;
		else if (subject == NULL)
			entry->status = SIGNER_NO_SUBJECT;
		else if (entry->signer != NULL &&
				 vapid_signer_matches(entry->signer, private_key, subject))
			entry->status = SIGNER_OK;
		else
		{
			/* A new key, or a new subject: the cached JWTs go too. */
			vapid_signer_free(entry->signer);
			entry->signer = vapid_signer_create(private_key, subject);
			entry->status = entry->signer ? SIGNER_OK : SIGNER_FAILED;
		}
		explicit_bzero(private_key, sizeof(private_key));
		if (entry->status != SIGNER_OK)
		{
			vapid_signer_free(entry->signer);
			entry->signer = NULL;
		}
		entry->checked = true;
	}
	*status = entry->status;
	return entry->signer;
}

void
signers_expire(void)
{
	HASH_SEQ_STATUS scan;
	SignerEntry *entry;

	if (signers == NULL)
		return;
	hash_seq_init(&scan, signers);
	while ((entry = hash_seq_search(&scan)) != NULL)
		entry->checked = false;
}

const char *
signer_status_message(SignerStatus status)
{
	switch (status)
	{
		case SIGNER_OK:
			return "ok";
		case SIGNER_KEY_GONE:
			return "its VAPID key was retired";
		case SIGNER_NO_SUBJECT:
			return "its application has no subject (webpush.subject)";
		case SIGNER_FAILED:
			return "could not prepare the VAPID signer";
	}
	return "unknown";
}
