/*
 * areas.c
 *		The shared memory hooks that call each registered area (areas.h).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "support/compat.h"
#include "shmem/areas.h"

/* More than the library has: registering one more is a programming error. */
#define SHMEM_AREAS_MAX 8

typedef struct ShmemArea
{
	ShmemAreaFn request;
	ShmemAreaFn attach;
} ShmemArea;

static ShmemArea areas[SHMEM_AREAS_MAX];
static int	nareas = 0;

#ifdef WEBPUSH_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_request_hook = NULL;

static void
areas_request(void)
{
	if (prev_request_hook)
		prev_request_hook();
	for (int i = 0; i < nareas; i++)
		areas[i].request();
}
#endif

static shmem_startup_hook_type prev_startup_hook = NULL;

static void
areas_startup(void)
{
	if (prev_startup_hook)
		prev_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (int i = 0; i < nareas; i++)
		areas[i].attach();
	LWLockRelease(AddinShmemInitLock);
}

void
shmem_area_register(ShmemAreaFn request, ShmemAreaFn attach)
{
	if (nareas == SHMEM_AREAS_MAX)
		elog(ERROR, "webpush: more than %d shared memory areas", SHMEM_AREAS_MAX);
	if (nareas == 0)
	{
#ifdef WEBPUSH_HAVE_SHMEM_REQUEST_HOOK
		prev_request_hook = shmem_request_hook;
		shmem_request_hook = areas_request;
#endif
		prev_startup_hook = shmem_startup_hook;
		shmem_startup_hook = areas_startup;
	}
#ifndef WEBPUSH_HAVE_SHMEM_REQUEST_HOOK
	request();
#endif
	areas[nareas].request = request;
	areas[nareas].attach = attach;
	nareas++;
}
