/*
 * sql_notify.c
 *		webpush_notify(): a trigger function that notifies the user named by
 *		a column of the row, without PL/pgSQL.
 *
 *		CREATE TRIGGER orders_notify AFTER INSERT ON orders FOR EACH ROW
 *			EXECUTE FUNCTION webpush_notify('user_id', 'Order received',
 *											'Your {item} is on its way',
 *											'/orders/{id}');
 *
 * Arguments: the user column, the title, and optionally the body, the url,
 * the application and the source row.  {column} in the title, body, url and
 * source row is replaced by that column's value in the row (NEW, or OLD for
 * DELETE); NULL is replaced by nothing.  The source row ('orders/{id}') is
 * kept with the message (webpush.message_status.source), so that the
 * application finds, and may cancel, what a row of its own sent.  A row whose user column is NULL, or whose user has no
 * subscription, sends nothing.  A body too long to send is shortened; a url
 * that is invalid or too long for the row is left out, and a row whose title
 * comes out empty sends nothing, each with a WARNING: the row's data never
 * fails its statement.  The trigger's own mistakes (a column that does not
 * exist, an unknown application) are errors at its first firing.
 *
 * What it costs the INSERT it fires for is kept small.  Once this process
 * knows the application, a firing stores one row of webpush.intake
 * (queue_insert.c: through the executor's insert helpers, no lookup, no
 * SQL statement), and the worker finds the user's subscriptions and makes
 * the message and its deliveries after COMMIT.  Until then, when
 * webpush.max_queued_per_role applies, or when webpush.intake is not a
 * table those helpers insert into as an INSERT would, it queues as
 * webpush_send_user does.
 *
 * It is not SECURITY DEFINER: a SET search_path clause would cost every
 * firing two configuration changes, and the statement after it a new
 * search path.  A row of webpush.intake as the extension made the table
 * runs nothing of anyone's as it goes in, so it is stored as whoever's
 * INSERT fired the trigger, with no privilege checked.  Everything else
 * (any statement, and a row of a webpush.intake to which a DBA added a
 * trigger, a constraint, a default, or an index on an expression or with
 * an extension's operators) runs as the function's owner with
 * search_path pinned, as SECURITY DEFINER would (run_as_function_owner), so
 * that what the DBA added runs as it does for the extension's own
 * statements, whoever's INSERT fired it.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "app_access.h"
#include "applications.h"
#include "counters.h"
#include "notification.h"
#include "push.h"
#include "queue.h"
#include "queue_insert.h"
#include "sql_util.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(webpush_notify);

typedef struct NotifyCall
{
	text	   *user;
	MessageSpec *spec;
} NotifyCall;

/*
 * Queue for a role that webpush.max_queued_per_role limits.  Over the limit
 * the trigger queues nothing, says so with a WARNING and counts it
 * (webpush.counters.refused): the business statement that fired it must not
 * fail because a push service is down and retries pile up.  An explicit
 * webpush_send* call gets the error instead.  The attempt runs in a
 * subtransaction, which is paid only by limited roles.
 */
static void
queue_within_limit(NotifyCall *call)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		queue_record_source(queue_to_user(call->user, call->spec).message_id, call->spec->source);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		CountedEvent e;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
		if (edata->sqlerrcode != ERRCODE_CONFIGURATION_LIMIT_EXCEEDED)
			ReThrowError(edata);
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("notification for user \"%s\" not queued: %s",
						text_to_cstring(call->user), edata->message),
				 errdetail("The trigger queues nothing over webpush.max_queued_per_role, so that the statement that fired it goes on; webpush.counters counts it as refused."),
				 errhint("Wait for the queue to drain (a push service may be down), or ask a superuser to raise webpush.max_queued_per_role for this role.")));
		memset(&e, 0, sizeof(e));
		e.application = call->spec->app;
		e.outcome = COUNT_REFUSED;
		e.problem = edata->message;
		counters_count(&e);
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

static void
notify_as_owner(void *arg)
{
	NotifyCall *call = arg;
	bool		stored;

	/*
	 * One row of webpush.intake, and no SQL statement: the worker does the
	 * rest.  The application's subject must have been checked in this
	 * process, and a role's limit needs the count that queue_to_user makes.
	 */
	if (app_subject_known(call->spec->app) && !OidIsValid(queue_limited_role()) &&
		queue_insert_intake(call->user, call->spec, &stored))
	{
		if (stored)
			queue_wake_at_commit();
		return;
	}
	if (OidIsValid(queue_limited_role()))
		queue_within_limit(call);
	else
		queue_record_source(queue_to_user(call->user, call->spec).message_id, call->spec->source);
}

typedef struct NotifyAccess
{
	const char *app;
	Oid			sender;
} NotifyAccess;

static void
require_use(void *arg)
{
	NotifyAccess *access = arg;

	app_require_use_by(access->app, access->sender);
}

static int
column_number(Relation rel, const char *name, const char *where)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), name);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("webpush_notify: table \"%s\" has no column \"%s\"",
						RelationGetRelationName(rel), name),
				 errdetail("Trigger arguments name it %s.", where),
				 errhint("Name a column of the table in the trigger's arguments: EXECUTE FUNCTION webpush_notify('user_id', 'Title {column}', ...).")));
	return attnum;
}

/* The template with each {column} replaced by its value in the row. */
static text *
substitute(const char *template, Relation rel, HeapTuple row, const char *what)
{
	StringInfoData out;
	const char *p = template;

	initStringInfo(&out);
	while (*p)
	{
		const char *close;

		if (*p == '{' && (close = strchr(p + 1, '}')) != NULL && close > p + 1)
		{
			char	   *name = pnstrdup(p + 1, close - p - 1);
			char	   *value = SPI_getvalue(row, RelationGetDescr(rel),
											 column_number(rel, name, what));

			if (value != NULL)
				appendStringInfoString(&out, value);
			p = close + 1;
		}
		else
			appendStringInfoChar(&out, *p++);
	}
	return cstring_to_text_with_len(out.data, out.len);
}

Datum
webpush_notify(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Trigger    *trigger;
	Relation	rel;
	HeapTuple	row;
	HeapTuple	result;
	char	   *user;
	NotificationFields f;
	Jsonb	   *payload;
	char	   *json;
	MessageSpec spec;
	NotifyCall	call;
	const char *app = APP_DEFAULT_NAME;
	text	   *source = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webpush_notify() is a trigger function"),
				 errhint("Use it in CREATE TRIGGER ... FOR EACH ROW EXECUTE FUNCTION webpush_notify('user_id', 'Title', ...).")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webpush_notify() must be fired FOR EACH ROW")));
	trigger = trigdata->tg_trigger;
	if (trigger->tgnargs < 2 || trigger->tgnargs > 6)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webpush_notify() takes 2 to 6 arguments, trigger \"%s\" gives %d",
						trigger->tgname, trigger->tgnargs),
				 errhint("Arguments: user column, title, and optionally body, url, application and source row.")));

	/*
	 * The row the statement goes on with: NEW for INSERT and UPDATE, OLD for
	 * DELETE (NULL would cancel a BEFORE trigger's DELETE).
	 */
	rel = trigdata->tg_relation;
	row = result = trigdata->tg_trigtuple;
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		row = result = trigdata->tg_newtuple;

	if (trigger->tgnargs >= 5)
		app = app_name_arg(cstring_to_text(trigger->tgargs[4]));
	/*
	 * The role whose statement fires it sends, as it would through a
	 * PL/pgSQL trigger: it must be allowed to use the application.  The
	 * answer is cached; a first check may make "default", as the
	 * function's owner.
	 */
	if (!app_may_use(app, GetUserId()))
	{
		NotifyAccess access = {app, GetUserId()};

		run_as_function_owner(fcinfo, require_use, &access);
	}

	/* The templates are checked even when this row notifies nobody. */
	memset(&f, 0, sizeof(f));
	f.title = substitute(trigger->tgargs[1], rel, row, "in the title");
	if (trigger->tgnargs >= 3 && trigger->tgargs[2][0] != '\0')
		f.body = substitute(trigger->tgargs[2], rel, row, "in the body");
	if (trigger->tgnargs >= 4 && trigger->tgargs[3][0] != '\0')
		f.url = substitute(trigger->tgargs[3], rel, row, "in the url");
	if (trigger->tgnargs >= 6 && trigger->tgargs[5][0] != '\0')
		source = substitute(trigger->tgargs[5], rel, row, "in the source row");
	/* A body or url that comes out empty (say '{url}' of a NULL) is left out. */
	if (f.body != NULL && VARSIZE_ANY_EXHDR(f.body) == 0)
		f.body = NULL;
	if (f.url != NULL && VARSIZE_ANY_EXHDR(f.url) == 0)
		f.url = NULL;
	f.require_interaction = -1;
	f.silent = -1;
	user = SPI_getvalue(row, RelationGetDescr(rel),
						column_number(rel, trigger->tgargs[0], "as the user column"));
	if (user == NULL)
		return PointerGetDatum(result);

	payload = notification_build_for_row(&f, trigger->tgname);
	if (payload == NULL)
		return PointerGetDatum(result);
	json = JsonbToCString(NULL, &payload->root, 0);
	memset(&spec, 0, sizeof(spec));
	spec.app = app;
	spec.payload = (bytea *) cstring_to_text(json);
	spec.source = source;
	validate_message_options(false, PUSH_DEFAULT_TTL, NULL, NULL, &spec.opts);
	call.user = cstring_to_text(user);
	call.spec = &spec;

	/*
	 * A webpush.intake that runs nothing of anyone's on an insert takes the
	 * row as whoever inserts: no change of role or search_path to pay for.
	 */
	if (app_subject_known(app) && !OidIsValid(queue_limited_role()) &&
		queue_insert_intake_plain(call.user, &spec))
		queue_wake_at_commit();
	else
		run_as_function_owner(fcinfo, notify_as_owner, &call);
	return PointerGetDatum(result);
}
