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
 * Arguments: the user column, the title, and optionally the body, the url
 * and the application.  {column} in the title, body and url is replaced by
 * that column's value in the row (NEW, or OLD for DELETE); NULL is replaced
 * by nothing.  A row whose user column is NULL, or whose user has no
 * subscription, sends nothing.  A body too long to send is shortened; a url
 * that is invalid or too long for the row is left out, and a row whose title
 * comes out empty sends nothing, each with a WARNING: the row's data never
 * fails its statement.  The trigger's own mistakes (a column that does not
 * exist, an unknown application) are errors at its first firing.
 *
 * What it costs the INSERT it fires for is kept small.  Once this process
 * knows the tables and the application, a firing stores one row of
 * webpush.intake (queue_direct.c: by OID, no index, no SQL), and the worker
 * finds the user's subscriptions and makes the message and its deliveries
 * after COMMIT.  Until then, or when webpush.max_queued_per_role applies,
 * it queues as webpush_send_user does.
 *
 * It is not SECURITY DEFINER: a SET search_path clause would cost every
 * firing two configuration changes, and the statement after it a new
 * search path.  Storing by OID checks no privileges; any statement it runs
 * runs as its owner with search_path pinned, as SECURITY DEFINER would
 * (run_as_function_owner).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

#include "app_access.h"
#include "applications.h"
#include "notification.h"
#include "push.h"
#include "queue.h"
#include "queue_direct.h"
#include "sql_util.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(webpush_notify);

typedef struct NotifyCall
{
	text	   *user;
	MessageSpec *spec;
} NotifyCall;

static void
notify_as_owner(void *arg)
{
	NotifyCall *call = arg;

	(void) queue_to_user(call->user, call->spec);
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
	const char *app = APP_DEFAULT_NAME;

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
	if (trigger->tgnargs < 2 || trigger->tgnargs > 5)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webpush_notify() takes 2 to 5 arguments, trigger \"%s\" gives %d",
						trigger->tgname, trigger->tgnargs),
				 errhint("Arguments: user column, title, and optionally body, url and application.")));

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
	validate_message_options(false, PUSH_DEFAULT_TTL, NULL, NULL, &spec.opts);
	if (queue_direct_ready(&spec))
	{
		/* One row of webpush.intake, and no SQL: the worker does the rest. */
		(void) queue_direct_intake(cstring_to_text(user), &spec);
		queue_wake_at_commit();
	}
	else
	{
		NotifyCall	call = {cstring_to_text(user), &spec};

		run_as_function_owner(fcinfo, notify_as_owner, &call);
	}
	return PointerGetDatum(result);
}
