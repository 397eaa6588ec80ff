/*
 * webpush.c
 *		Module entry point: the settings, and with shared_preload_libraries
 *		the launcher, the shared memory and the DDL hook.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "settings.h"
#include "shmem/cap_holds.h"
#include "shmem/counters.h"
#include "shmem/rates.h"
#include "shmem/tokens.h"
#include "worker/ddl_hook.h"
#include "worker/launcher.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	settings_define();

	/*
	 * Workers and their shared memory exist only when preloaded (and so do
	 * the settings that size them: settings_define).
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		launcher_register();
		counters_request_shmem();
		rates_request_shmem();
		cap_holds_request_shmem();
		tokens_request_shmem();
		ddl_hook_install();
	}
}
