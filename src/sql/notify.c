/*
 * notify.c
 *		webpush_notify(): a trigger function that notifies the user named by
 *		a column of the row, without PL/pgSQL.
 *
 *		CREATE TRIGGER orders_notify AFTER INSERT ON orders FOR EACH ROW
 *			EXECUTE FUNCTION webpush_notify('user_id', 'Order received',
 *											'Your {item} is on its way',
 *											'/orders/{id}');
 *
 * Arguments: the user column, the title, and optionally the body, the url
 * and the application ('' for "default"), then options written
 * 'name=template': icon, badge, image, tag, lang, dir, app_badge, actions
 * (JSON); silent, require_interaction, renotify, mutable, declarative and
 * receipt (true or false); title.LANG and body.LANG, the title and body
 * for rows whose lang is LANG (or starts with LANG-); and source, the row
 * the message comes from ('source=orders/{id}'), kept with the message
 * (webpush.message_status.source) so that the application finds, and may
 * cancel, what a row of its own sent.  {column} in the title, body, url
 * and the options is replaced by that column's value in the row (NEW, or
 * OLD for DELETE); NULL is replaced by nothing.  A row whose user column is NULL, or whose user has no
 * subscription, sends nothing.  A body too long to send is shortened; a url
 * that is invalid or too long for the row is left out, and a row whose title
 * comes out empty sends nothing, each with a WARNING: the row's data never
 * fails its statement.  The trigger's own mistakes (a column that does not
 * exist, an unknown application) are errors at its first firing.
 *
 * What it costs the INSERT it fires for is kept small.  Once this process
 * knows the application, a firing stores one row of webpush.intake
 * (queue/insert.c: through the executor's insert helpers, no lookup, no
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
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "queue/app_access.h"
#include "queue/applications.h"
#include "shmem/counters.h"
#include "push/notification.h"
#include "push/push.h"
#include "queue/enqueue.h"
#include "queue/insert.h"
#include "sql/args.h"
#include "sql/validate.h"

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
	int64		id;

	/*
	 * One row of webpush.intake, and no SQL statement: the worker does the
	 * rest.  The application's subject must have been checked in this
	 * process, and a role's limit needs the count that queue_to_user makes.
	 */
	if (app_subject_known(call->spec->app) && !OidIsValid(queue_limited_role()) &&
		queue_insert_intake(call->user, call->spec, &id))
	{
		if (id != 0)
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

/*
 * The columns a trigger's templates name, in the order a firing reads them,
 * each with its number and its type's output function.  They are found
 * once per process and trigger, not at every firing: looking up a column
 * by name and its type's output function (as SPI_fnumber and SPI_getvalue
 * do) was half of what the templates cost.  A firing checks each against
 * the table as it is now (the same name, not dropped, the same type), so
 * that a column renamed, dropped or changed since is looked up again; so is
 * any reference when the trigger's arguments change (CREATE OR REPLACE
 * TRIGGER keeps its oid).  The output function is called through a fresh
 * FmgrInfo each time, as SPI_getvalue calls it: one kept across firings
 * would keep what the function caches in it, and miss an ALTER FUNCTION.
 *
 * What is kept is bounded: the first MAX_TEMPLATE_COLUMNS references of a
 * trigger, and MAX_CACHED_COLUMNS in all before the cache starts again
 * (dropped triggers' entries go then).
 */
typedef struct TemplateColumn
{
	AttrNumber	attnum;			/* InvalidAttrNumber until found */
	Oid			typid;
	Oid			output;			/* the type's output function */
} TemplateColumn;

typedef struct TriggerColumns
{
	Oid			tgoid;			/* hash key */
	int			count;
	int			allocated;
	TemplateColumn *refs;
} TriggerColumns;

#define MAX_TEMPLATE_COLUMNS 64
#define MAX_CACHED_COLUMNS 4096

static HTAB *trigger_columns = NULL;
static MemoryContext trigger_columns_cxt = NULL;
static int	cached_columns = 0;

static TriggerColumns *
columns_of_trigger(Oid tgoid)
{
	TriggerColumns *entry;
	bool		found;

	if (trigger_columns != NULL && cached_columns >= MAX_CACHED_COLUMNS)
	{
		hash_destroy(trigger_columns);
		MemoryContextReset(trigger_columns_cxt);
		trigger_columns = NULL;
		cached_columns = 0;
	}
	if (trigger_columns == NULL)
	{
		HASHCTL		ctl;

		if (trigger_columns_cxt == NULL)
			trigger_columns_cxt = AllocSetContextCreate(TopMemoryContext,
														"webpush_notify columns",
														ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(TriggerColumns);
		ctl.hcxt = trigger_columns_cxt;
		trigger_columns = hash_create("webpush_notify columns", 16, &ctl,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(trigger_columns, &tgoid, HASH_ENTER, &found);
	if (!found)
	{
		entry->count = 0;
		entry->allocated = 0;
		entry->refs = NULL;
		/* An entry counts as a column, so that many triggers also end it. */
		cached_columns++;
	}
	return entry;
}

/* A firing's row, read through its trigger's cached columns. */
typedef struct RowReader
{
	Relation	rel;
	HeapTuple	row;
	TriggerColumns *columns;
	int			next;			/* the reference this firing reads next */
	TemplateColumn uncached;	/* for references past MAX_TEMPLATE_COLUMNS */
} RowReader;

/*
 * Whether ref is still the column name[len] of the table described by desc:
 * the column at its number has that name and the type whose output
 * function it keeps.
 */
static bool
template_column_current(const TemplateColumn *ref, TupleDesc desc, const char *name, size_t len)
{
	Form_pg_attribute attr;

	if (ref->attnum == InvalidAttrNumber || ref->attnum > desc->natts)
		return false;
	attr = TupleDescAttr(desc, ref->attnum - 1);
	return !attr->attisdropped && attr->atttypid == ref->typid &&
		strncmp(NameStr(attr->attname), name, len) == 0 && NameStr(attr->attname)[len] == '\0';
}

/* The slot of the reference a firing reads next. */
static TemplateColumn *
next_template_column(RowReader *reader)
{
	TriggerColumns *columns = reader->columns;

	if (reader->next < columns->count)
		return &columns->refs[reader->next++];
	if (columns->count == MAX_TEMPLATE_COLUMNS)
	{
		reader->uncached.attnum = InvalidAttrNumber;
		return &reader->uncached;
	}
	if (columns->count == columns->allocated)
	{
		int			n = Min(Max(4, columns->allocated * 2), MAX_TEMPLATE_COLUMNS);

		columns->refs = columns->refs == NULL ?
			MemoryContextAlloc(trigger_columns_cxt, n * sizeof(TemplateColumn)) :
			repalloc(columns->refs, n * sizeof(TemplateColumn));
		columns->allocated = n;
	}
	columns->refs[columns->count].attnum = InvalidAttrNumber;
	cached_columns++;
	reader->next++;
	return &columns->refs[columns->count++];
}

/*
 * The value of the column name[len] in the row, as text, or NULL; an error
 * when the table has no such column.
 */
static char *
row_value(RowReader *reader, const char *name, size_t len, const char *what)
{
	TupleDesc	desc = RelationGetDescr(reader->rel);
	TemplateColumn *ref = next_template_column(reader);
	Datum		value;
	bool		isnull;

	if (!template_column_current(ref, desc, name, len))
	{
		int			attnum = column_number(reader->rel, pnstrdup(name, len), what);
		bool		is_varlena;

		ref->attnum = InvalidAttrNumber;
		ref->typid = TupleDescAttr(desc, attnum - 1)->atttypid;
		getTypeOutputInfo(ref->typid, &ref->output, &is_varlena);
		ref->attnum = attnum;
	}
	value = heap_getattr(reader->row, ref->attnum, desc, &isnull);
	return isnull ? NULL : OidOutputFunctionCall(ref->output, value);
}

/* The length of a {column} reference at p in a JSON template: {name} of letters, digits and _, or 0. */
static size_t
json_reference_length(const char *p)
{
	size_t		n = 1;

	while (isalnum((unsigned char) p[n]) || p[n] == '_')
		n++;
	return n > 1 && p[n] == '}' ? n + 1 : 0;
}

/*
 * The template with each {column} replaced by its value in the row.  In a
 * JSON template (the actions option) only {name} of letters, digits and _
 * is a reference, so that the JSON's own braces stay, and each value is
 * escaped for a JSON string.
 */
static text *
substitute_template(const char *template, RowReader *reader, const char *what, bool json)
{
	StringInfoData out;
	const char *p = template;

	initStringInfo(&out);
	while (*p)
	{
		const char *close = NULL;

		if (*p == '{')
		{
			if (json)
				close = json_reference_length(p) > 0 ? p + json_reference_length(p) - 1 : NULL;
			else if ((close = strchr(p + 1, '}')) != NULL && close == p + 1)
				close = NULL;
		}
		if (close != NULL)
		{
			char	   *value = row_value(reader, p + 1, close - p - 1, what);

			if (value != NULL && json)
			{
				StringInfoData quoted;

				/* escape_json adds the quotes the template already has. */
				initStringInfo(&quoted);
				escape_json(&quoted, value);
				appendBinaryStringInfo(&out, quoted.data + 1, quoted.len - 2);
			}
			else if (value != NULL)
				appendStringInfoString(&out, value);
			p = close + 1;
		}
		else
		{
			/* Text up to the next brace, at once. */
			const char *brace = strchr(p + 1, '{');
			size_t		n = brace != NULL ? (size_t) (brace - p) : strlen(p);

			appendBinaryStringInfo(&out, p, n);
			p += n;
		}
	}
	return cstring_to_text_with_len(out.data, out.len);
}

static text *
substitute(const char *template, RowReader *reader, const char *what)
{
	return substitute_template(template, reader, what, false);
}

/* Whether the row's lang (such as fr-CA) is the option's language (fr or fr-CA). */
static bool
lang_matches(text *row_lang, const char *lang)
{
	const char *s;
	size_t		len;
	size_t		want = strlen(lang);

	if (row_lang == NULL)
		return false;
	s = VARDATA_ANY(row_lang);
	len = VARSIZE_ANY_EXHDR(row_lang);
	return len >= want && pg_strncasecmp(s, lang, want) == 0 && (len == want || s[want] == '-');
}

static void
option_error(Trigger *trigger, const char *arg, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("webpush_notify: trigger \"%s\" has the invalid option \"%s\": %s",
					trigger->tgname, arg, problem),
			 errhint("Options after the application are 'name=template', with name icon, badge, image, tag, lang, dir, app_badge, actions, silent, require_interaction, renotify, mutable, declarative, receipt, title.LANG, body.LANG or source.")));
}

/*
 * The options (arguments 6 and on), each 'name=template'.  Their names are
 * checked for every row, values or not.  lang is read
 * first, so that title.LANG and body.LANG can pick the row's language; an
 * exact language wins over its prefix (fr-CA over fr).
 */
/* The longest source kept (bytes): a row's key, not its data. */
#define SOURCE_MAX_LEN 256

static bool
option_known(const char *name)
{
	static const char *const names[] = {
		"lang", "dir", "icon", "badge", "image", "tag", "app_badge", "silent",
		"require_interaction", "renotify", "mutable", "declarative", "receipt",
		"actions", "source"
	};

	for (size_t i = 0; i < lengthof(names); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return (strncmp(name, "title.", 6) == 0 && name[6] != '\0') ||
		(strncmp(name, "body.", 5) == 0 && name[5] != '\0');
}

static void
apply_options(Trigger *trigger, RowReader *reader, NotificationFields *f, text **source)
{
	size_t		title_match = 0;
	size_t		body_match = 0;

	for (int pass = 0; pass < 2; pass++)
		for (int i = 5; i < trigger->tgnargs; i++)
		{
			const char *arg = trigger->tgargs[i];
			const char *eq = strchr(arg, '=');
			char	   *name;
			const char *template;
			text	   *value;

			if (eq == NULL || eq == arg)
				option_error(trigger, arg, "it is not name=template");
			name = pnstrdup(arg, eq - arg);
			template = eq + 1;
			/* Checked whatever the row: a mistake shows at the first firing. */
			if (!option_known(name))
				option_error(trigger, arg, strncmp(name, "title.", 6) == 0 || strncmp(name, "body.", 5) == 0 ?
							 "title. and body. need a language, such as title.fr" :
							 "unknown option name");
			if ((pass == 0) != (strcmp(name, "lang") == 0))
				continue;
			value = substitute_template(template, reader, "in an option",
										strcmp(name, "actions") == 0);
			/* An option that comes out empty for a row is left out. */
			if (VARSIZE_ANY_EXHDR(value) == 0)
				continue;
			if (strcmp(name, "lang") == 0)
				f->lang = value;
			else if (strcmp(name, "dir") == 0)
				f->dir = value;
			else if (strcmp(name, "icon") == 0)
				f->icon = value;
			else if (strcmp(name, "badge") == 0)
				f->badge = value;
			else if (strcmp(name, "image") == 0)
				f->image = value;
			else if (strcmp(name, "tag") == 0)
				f->tag = value;
			else if (strcmp(name, "source") == 0)
			{
				/*
				 * The source is indexed with the message, and an index row
				 * has a size limit: a row's value past SOURCE_MAX_LEN is
				 * left out rather than fail the statement (or the worker's
				 * take-in of the intake).
				 */
				if (VARSIZE_ANY_EXHDR(value) > SOURCE_MAX_LEN)
					ereport(WARNING,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("webpush_notify: trigger \"%s\" gives this row a source of %zu bytes, more than %d; the notification is sent without it",
									trigger->tgname, (size_t) VARSIZE_ANY_EXHDR(value), SOURCE_MAX_LEN),
							 errhint("Name the row by its key, such as orders/{id}.")));
				else
					*source = value;
			}
			else if (strcmp(name, "app_badge") == 0)
			{
				char	   *digits = text_to_cstring(value);
				char	   *end;
				long		n = strtol(digits, &end, 10);

				if (*end != '\0' || n < 0 || n > PG_INT32_MAX)
					ereport(WARNING,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("webpush_notify: trigger \"%s\" gives this row the invalid app_badge \"%s\"; the notification is sent without it",
									trigger->tgname, digits),
							 errdetail("The badge is a count: 0 or more.")));
				else
					f->app_badge = n;
			}
			else if (strcmp(name, "silent") == 0 || strcmp(name, "require_interaction") == 0 ||
					 strcmp(name, "renotify") == 0 || strcmp(name, "mutable") == 0 ||
					 strcmp(name, "declarative") == 0 || strcmp(name, "receipt") == 0)
			{
				char	   *word = text_to_cstring(value);
				bool		b;

				if (!parse_bool(word, &b))
					ereport(WARNING,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("webpush_notify: trigger \"%s\" gives this row the invalid %s \"%s\"; the notification is sent without it",
									trigger->tgname, name, word),
							 errdetail("It takes true or false.")));
				else if (strcmp(name, "silent") == 0)
					f->silent = b;
				else if (strcmp(name, "require_interaction") == 0)
					f->require_interaction = b;
				else if (strcmp(name, "renotify") == 0)
					f->renotify = b;
				else if (strcmp(name, "mutable") == 0)
					f->is_mutable = b;
				else if (strcmp(name, "declarative") == 0)
					f->declarative = b;
				else
					f->receipt = b;
			}
			else if (strcmp(name, "actions") == 0)
				f->actions = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																CStringGetDatum(text_to_cstring(value))));
			else if (strncmp(name, "title.", 6) == 0 || strncmp(name, "body.", 5) == 0)
			{
				bool		is_title = name[0] == 't';
				const char *lang = name + (is_title ? 6 : 5);
				size_t		strength = strlen(lang);

				if (lang_matches(f->lang, lang) && strength > (is_title ? title_match : body_match))
				{
					if (is_title)
					{
						f->title = value;
						title_match = strength;
					}
					else
					{
						f->body = value;
						body_match = strength;
					}
				}
			}
			else
				option_error(trigger, arg, "unknown option name");	/* not reached */
		}
	/* A row without a tag cannot renotify: it is shown as new anyway. */
	if (f->renotify > 0 && f->tag == NULL)
		f->renotify = -1;
	/* declarative=true for a row whose url is a path: the kit's convention. */
	if (f->declarative > 0)
		f->declarative = -1;
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
	char	   *json;
	MessageSpec spec;
	NotifyCall	call;
	const char *app = APP_DEFAULT_NAME;
	text	   *source = NULL;
	RowReader	reader;
	int64		id;

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
	if (trigger->tgnargs < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webpush_notify() takes at least 2 arguments, trigger \"%s\" gives %d",
						trigger->tgname, trigger->tgnargs),
				 errhint("Arguments: user column, title, and optionally body, url, application and options such as 'lang={lang}' or 'source=orders/{id}'.")));

	/*
	 * The row the statement goes on with: NEW for INSERT and UPDATE, OLD for
	 * DELETE (NULL would cancel a BEFORE trigger's DELETE).
	 */
	rel = trigdata->tg_relation;
	row = result = trigdata->tg_trigtuple;
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		row = result = trigdata->tg_newtuple;

	if (trigger->tgnargs >= 5 && trigger->tgargs[4][0] != '\0')
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
	notification_fields_init(&f);
	reader.rel = rel;
	reader.row = row;
	reader.columns = columns_of_trigger(trigger->tgoid);
	reader.next = 0;
	f.title = substitute(trigger->tgargs[1], &reader, "in the title");
	if (trigger->tgnargs >= 3 && trigger->tgargs[2][0] != '\0')
		f.body = substitute(trigger->tgargs[2], &reader, "in the body");
	if (trigger->tgnargs >= 4 && trigger->tgargs[3][0] != '\0')
		f.url = substitute(trigger->tgargs[3], &reader, "in the url");
	/* A body or url that comes out empty (say '{url}' of a NULL) is left out. */
	if (f.body != NULL && VARSIZE_ANY_EXHDR(f.body) == 0)
		f.body = NULL;
	if (f.url != NULL && VARSIZE_ANY_EXHDR(f.url) == 0)
		f.url = NULL;
	apply_options(trigger, &reader, &f, &source);
	user = row_value(&reader, trigger->tgargs[0], strlen(trigger->tgargs[0]), "as the user column");
	if (user == NULL)
		return PointerGetDatum(result);

	json = notification_build_for_row(&f, trigger->tgname);
	if (json == NULL)
		return PointerGetDatum(result);
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
		queue_insert_intake_plain(call.user, &spec, &id))
	{
		if (id != 0)
			queue_wake_at_commit();
	}
	else
		run_as_function_owner(fcinfo, notify_as_owner, &call);
	return PointerGetDatum(result);
}
