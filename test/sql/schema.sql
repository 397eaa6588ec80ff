-- A fresh install of 0.4 (webpush--0.4.sql alone) and the installs updated
-- to 0.4 from 0.1, 0.2 and 0.3 (webpush--0.1.sql and the update scripts)
-- must leave the same catalog.  Each goes into a database of its own, and
-- fp.fingerprint() describes the extension of a database as lines of text
-- that name every object (never an OID, nor the database): the lines one
-- database has and the other has not are the differences, shown both ways
-- for each older version, and every such query must return no row.
--
-- What the lines cover, by their first field:
--   extension   version, schema, relocatable
--   extconfig   the tables and sequences pg_dump keeps, with their filters
--   member      every object of the extension (pg_depend)
--   schema      owner, ACL
--   relation    every relation of the schema: kind, persistence, replica
--               identity, row level security, options (security_barrier),
--               access method, owner, ACL
--   rows        how many rows each table holds
--   column      position among the live columns, type and typmod, NOT NULL,
--               default expression, identity, generated, collation,
--               storage, ACL
--   constraint  of tables and domains: name, type, pg_get_constraintdef,
--               deferrability, validation, the index it uses
--   index       pg_get_indexdef, primary, exclusion, immediate, clustered,
--               replica identity, valid
--   type        every type of the schema (row and array types included)
--   domain      base type, NOT NULL, default, collation
--   policy      pg_policies
--   view        pg_get_viewdef, line by line
--   rule        rules other than a view's own
--   trigger     pg_get_triggerdef, enabled
--   event trigger  event, function, enabled, tags, owner
--   function    identity and full arguments (names, defaults), result, kind,
--               language, SECURITY DEFINER, volatility, STRICT, PARALLEL,
--               LEAKPROOF, cost, rows, proconfig, C symbol and library,
--               owner, ACL
--   sequence    parameters, owning column, state
--   comment     of every object above and of the columns
--   init privs  pg_init_privs: the privileges pg_dump takes as the
--               extension's own
-- ACLs are sorted items, and the extension's owner is named OWNER, so that
-- whoever runs the test gets the same lines.
SELECT current_database() AS home \gset

SET client_min_messages = warning;
DROP DATABASE IF EXISTS regression_webpush_schema_fp;
DROP DATABASE IF EXISTS regression_webpush_schema_04;
DROP DATABASE IF EXISTS regression_webpush_schema_01;
DROP DATABASE IF EXISTS regression_webpush_schema_02;
DROP DATABASE IF EXISTS regression_webpush_schema_03;
RESET client_min_messages;

-- The fingerprint's functions, in a template that every install copies.
CREATE DATABASE regression_webpush_schema_fp TEMPLATE template0;
\c regression_webpush_schema_fp
CREATE SCHEMA fp;

-- A role as the fingerprint names it.
CREATE FUNCTION fp.role(r oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN r = 0 THEN 'PUBLIC'
                WHEN r = (SELECT extowner FROM pg_extension WHERE extname = 'webpush') THEN 'OWNER'
                ELSE pg_get_userbyid(r)::text END
$$;

-- An ACL as sorted grantee=privilege/grantor items; "default" when there
-- is none (NULL: the object's default privileges, never granted or revoked).
CREATE FUNCTION fp.acl(acl aclitem[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN acl IS NULL THEN 'default'
                ELSE COALESCE((SELECT string_agg(item, ',' ORDER BY item)
                                 FROM (SELECT fp.role(a.grantee) || '=' || a.privilege_type
                                              || CASE WHEN a.is_grantable THEN '*' ELSE '' END
                                              || '/' || fp.role(a.grantor) AS item
                                         FROM aclexplode(acl) AS a) AS items), 'none') END
$$;

CREATE FUNCTION fp.row_count(rel regclass) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT pg_catalog.count(*) FROM %s', rel) INTO n;
    RETURN n;
END
$$;

CREATE FUNCTION fp.fingerprint() RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
WITH ext AS (
    SELECT * FROM pg_extension WHERE extname = 'webpush'
), members AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), nsp AS (
    SELECT * FROM pg_namespace WHERE nspname = 'webpush'
), rels AS (
    SELECT * FROM pg_class
    WHERE relnamespace IN (SELECT oid FROM nsp)
       OR oid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
), procs AS (
    SELECT * FROM pg_proc
    WHERE pronamespace IN (SELECT oid FROM nsp)
       OR oid IN (SELECT objid FROM members WHERE classid = 'pg_proc'::regclass)
), types AS (
    SELECT * FROM pg_type
    WHERE typnamespace IN (SELECT oid FROM nsp)
       OR oid IN (SELECT objid FROM members WHERE classid = 'pg_type'::regclass)
), cons AS (
    SELECT * FROM pg_constraint
    WHERE conrelid IN (SELECT oid FROM rels) OR contypid IN (SELECT oid FROM types)
), evts AS (
    SELECT * FROM pg_event_trigger
    WHERE oid IN (SELECT objid FROM members WHERE classid = 'pg_event_trigger'::regclass)
       OR evtfoid IN (SELECT oid FROM procs)
), scope (classid, objid) AS (
    SELECT classid, objid FROM members
    UNION SELECT 'pg_extension'::regclass, oid FROM ext
    UNION SELECT 'pg_namespace'::regclass, oid FROM nsp
    UNION SELECT 'pg_class'::regclass, oid FROM rels
    UNION SELECT 'pg_proc'::regclass, oid FROM procs
    UNION SELECT 'pg_type'::regclass, oid FROM types
    UNION SELECT 'pg_constraint'::regclass, oid FROM cons
    UNION SELECT 'pg_event_trigger'::regclass, oid FROM evts
    UNION SELECT 'pg_trigger'::regclass, oid FROM pg_trigger
          WHERE tgrelid IN (SELECT oid FROM rels)
    UNION SELECT 'pg_policy'::regclass, oid FROM pg_policy
          WHERE polrelid IN (SELECT oid FROM rels)
    UNION SELECT 'pg_rewrite'::regclass, oid FROM pg_rewrite
          WHERE ev_class IN (SELECT oid FROM rels)
)
-- The extension, and what pg_dump keeps of its tables' data.
SELECT format('extension|%s|version %s|schema %s|relocatable %s',
              extname, extversion, extnamespace::regnamespace, extrelocatable)
FROM ext
UNION ALL
SELECT format('extconfig|%s|condition %L', c.config::regclass, c.condition)
FROM ext, unnest(ext.extconfig, ext.extcondition) AS c (config, condition)
UNION ALL
SELECT format('member|%s|%s', o.type, o.identity)
FROM members m, pg_identify_object(m.classid, m.objid, 0) AS o
UNION ALL
SELECT format('schema|%s|owner %s|acl %s', nspname, fp.role(nspowner), fp.acl(nspacl))
FROM nsp
UNION ALL
SELECT format('relation|%s|kind %s|persistence %s|replica identity %s|row security %s|forced %s'
              '|options %s|access method %s|owner %s|acl %s',
              c.oid::regclass, c.relkind, c.relpersistence, c.relreplident, c.relrowsecurity,
              c.relforcerowsecurity,
              (SELECT string_agg(o, ',' ORDER BY o) FROM unnest(c.reloptions) AS o),
              am.amname, fp.role(c.relowner), fp.acl(c.relacl))
FROM rels c LEFT JOIN pg_am am ON am.oid = c.relam
UNION ALL
SELECT format('rows|%s|%s', c.oid::regclass, fp.row_count(c.oid))
FROM rels c WHERE c.relkind IN ('r', 'p', 'm')
UNION ALL
-- Columns by their position among the live columns: a dropped column
-- leaves no trace in what a query sees.
SELECT format('column|%s|%s|position %s|type %s|typmod %s|not null %s|default %s|identity %s'
              '|generated %s|collation %s|storage %s|statistics %s|acl %s',
              a.attrelid::regclass, a.attname,
              row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
              format_type(a.atttypid, a.atttypmod), a.atttypmod, a.attnotnull,
              pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
              CASE WHEN a.attcollation = 0 THEN '' ELSE a.attcollation::regcollation::text END,
              a.attstorage, COALESCE(a.attstattarget, -1), fp.acl(a.attacl))
FROM rels c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
UNION ALL
SELECT format('constraint|%s|%s|type %s|%s|deferrable %s|deferred %s|validated %s|no inherit %s'
              '|index %s',
              CASE WHEN con.contypid <> 0 THEN 'domain ' || con.contypid::regtype::text
                   ELSE con.conrelid::regclass::text END,
              con.conname, con.contype, pg_get_constraintdef(con.oid), con.condeferrable,
              con.condeferred, con.convalidated, con.connoinherit,
              NULLIF(con.conindid, 0)::regclass)
FROM cons con
UNION ALL
SELECT format('index|%s|primary %s|exclusion %s|immediate %s|clustered %s|replica identity %s'
              '|valid %s|ready %s',
              pg_get_indexdef(i.indexrelid), i.indisprimary, i.indisexclusion, i.indimmediate,
              i.indisclustered, i.indisreplident, i.indisvalid, i.indisready)
FROM pg_index i WHERE i.indrelid IN (SELECT oid FROM rels)
UNION ALL
SELECT format('type|%s|type %s|category %s|owner %s|acl %s',
              t.oid::regtype, t.typtype, t.typcategory, fp.role(t.typowner), fp.acl(t.typacl))
FROM types t
UNION ALL
SELECT format('domain|%s|base %s|not null %s|default %s|collation %s',
              t.oid::regtype, format_type(t.typbasetype, t.typtypmod), t.typnotnull,
              t.typdefault,
              CASE WHEN t.typcollation = 0 THEN '' ELSE t.typcollation::regcollation::text END)
FROM types t WHERE t.typtype = 'd'
UNION ALL
SELECT format('policy|%s.%s|%s|%s|command %s|roles %s|using %s|with check %s',
              p.schemaname, p.tablename, p.policyname, p.permissive, p.cmd,
              (SELECT string_agg(r, ',' ORDER BY r) FROM unnest(p.roles) AS r),
              p.qual, p.with_check)
FROM pg_policies p WHERE p.schemaname IN (SELECT nspname FROM nsp)
UNION ALL
-- A view's definition line by line, so that a difference shows the lines
-- that differ.
SELECT format('view|%s|line %s|%s', c.oid::regclass, lpad(l.n::text, 3, '0'), l.line)
FROM rels c, regexp_split_to_table(pg_get_viewdef(c.oid), E'\n') WITH ORDINALITY AS l (line, n)
WHERE c.relkind IN ('v', 'm')
UNION ALL
SELECT format('rule|%s|%s|enabled %s', r.ev_class::regclass, pg_get_ruledef(r.oid), r.ev_enabled)
FROM pg_rewrite r WHERE r.ev_class IN (SELECT oid FROM rels) AND r.rulename <> '_RETURN'
UNION ALL
SELECT format('trigger|%s|enabled %s', pg_get_triggerdef(t.oid), t.tgenabled)
FROM pg_trigger t WHERE t.tgrelid IN (SELECT oid FROM rels) AND NOT t.tgisinternal
UNION ALL
SELECT format('event trigger|%s|event %s|function %s|enabled %s|tags %s|owner %s',
              e.evtname, e.evtevent, e.evtfoid::regprocedure, e.evtenabled, e.evttags,
              fp.role(e.evtowner))
FROM evts e
UNION ALL
SELECT format('function|%s|identity arguments %s|arguments %s|result %s|kind %s|language %s'
              '|security definer %s|volatility %s|strict %s|parallel %s|leakproof %s'
              '|returns set %s|cost %s|rows %s|config %s|symbol %s|library %s|owner %s|acl %s',
              p.oid::regprocedure, pg_get_function_identity_arguments(p.oid),
              pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), p.prokind,
              l.lanname, p.prosecdef, p.provolatile, p.proisstrict, p.proparallel,
              p.proleakproof, p.proretset, p.procost, p.prorows, p.proconfig, p.prosrc, p.probin,
              fp.role(p.proowner), fp.acl(p.proacl))
FROM procs p JOIN pg_language l ON l.oid = p.prolang
UNION ALL
SELECT format('sequence|%s|type %s|start %s|increment %s|min %s|max %s|cache %s|cycle %s'
              '|owned by %s|last value %s',
              s.seqrelid::regclass, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
              s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
              (SELECT string_agg(format('%s.%s (%s)', d.refobjid::regclass, a.attname, d.deptype),
                                 ',')
                 FROM pg_depend d
                 JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
                  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')),
              pg_sequence_last_value(s.seqrelid))
FROM pg_sequence s WHERE s.seqrelid IN (SELECT oid FROM rels)
UNION ALL
SELECT format('comment|%s %s|%s', o.type, o.identity, d.description)
FROM pg_description d
JOIN scope s ON s.classid = d.classoid AND s.objid = d.objoid,
     pg_identify_object(d.classoid, d.objoid, d.objsubid) AS o
UNION ALL
SELECT format('init privs|%s %s|%s|%s', o.type, o.identity, i.privtype, fp.acl(i.initprivs))
FROM pg_init_privs i
JOIN scope s ON s.classid = i.classoid AND s.objid = i.objoid,
     pg_identify_object(i.classoid, i.objoid, i.objsubid) AS o
$$;

-- One database per way of installing, each a copy of the template.
\c :"home"
CREATE DATABASE regression_webpush_schema_04 TEMPLATE regression_webpush_schema_fp;
CREATE DATABASE regression_webpush_schema_01 TEMPLATE regression_webpush_schema_fp;
CREATE DATABASE regression_webpush_schema_02 TEMPLATE regression_webpush_schema_fp;
CREATE DATABASE regression_webpush_schema_03 TEMPLATE regression_webpush_schema_fp;

-- The fresh install.  It ran webpush--0.4.sql alone: an update script
-- leaves a dropped column behind (webpush.vapid_keys' first), this does not.
\c regression_webpush_schema_04
CREATE EXTENSION webpush;
SELECT extversion FROM pg_extension WHERE extname = 'webpush';
SELECT count(*) AS dropped_columns
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'webpush'::regnamespace AND a.attisdropped;
SELECT rolname, rolcanlogin FROM pg_roles
WHERE rolname IN ('webpush_sender', 'webpush_monitor') ORDER BY 1;
SELECT array_agg(line) AS fingerprint_04 FROM fp.fingerprint() AS line \gset
-- What the fingerprint has lines of.
SELECT split_part(line, '|', 1) AS covers
FROM unnest(:'fingerprint_04'::text[]) AS line GROUP BY 1 ORDER BY 1;

-- Updated from 0.1.
\c regression_webpush_schema_01
CREATE EXTENSION webpush VERSION '0.1';
ALTER EXTENSION webpush UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'webpush';
SELECT count(*) > 0 AS dropped_columns
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'webpush'::regnamespace AND a.attisdropped;
SELECT line AS only_in_fresh_0_4 FROM unnest(:'fingerprint_04'::text[]) AS line
EXCEPT SELECT fp.fingerprint() ORDER BY 1;
SELECT line AS only_in_updated_from_0_1 FROM fp.fingerprint() AS line
EXCEPT SELECT unnest(:'fingerprint_04'::text[]) ORDER BY 1;

-- Updated from 0.2.
\c regression_webpush_schema_02
CREATE EXTENSION webpush VERSION '0.2';
ALTER EXTENSION webpush UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'webpush';
SELECT line AS only_in_fresh_0_4 FROM unnest(:'fingerprint_04'::text[]) AS line
EXCEPT SELECT fp.fingerprint() ORDER BY 1;
SELECT line AS only_in_updated_from_0_2 FROM fp.fingerprint() AS line
EXCEPT SELECT unnest(:'fingerprint_04'::text[]) ORDER BY 1;

-- Updated from 0.3.
\c regression_webpush_schema_03
CREATE EXTENSION webpush VERSION '0.3';
ALTER EXTENSION webpush UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'webpush';
SELECT line AS only_in_fresh_0_4 FROM unnest(:'fingerprint_04'::text[]) AS line
EXCEPT SELECT fp.fingerprint() ORDER BY 1;
SELECT line AS only_in_updated_from_0_3 FROM fp.fingerprint() AS line
EXCEPT SELECT unnest(:'fingerprint_04'::text[]) ORDER BY 1;

-- Updated from 0.3 whose messages_pending_idx a DBA dropped: the update
-- still goes through, and the index is 0.4's.
DROP EXTENSION webpush;
CREATE EXTENSION webpush VERSION '0.3';
DROP INDEX webpush.messages_pending_idx;
ALTER EXTENSION webpush UPDATE;
SELECT pg_catalog.pg_get_indexdef('webpush.messages_pending_idx'::regclass);

-- A webpush_sender or webpush_monitor that can log in stops the update to
-- 0.4, as it stops CREATE EXTENSION: earlier versions used the role they
-- found, whoever had made it.
-- (Without the context, which PostgreSQL 18 gives with the script's text.)
\set SHOW_CONTEXT never
DROP EXTENSION webpush;
CREATE EXTENSION webpush VERSION '0.3';
ALTER ROLE webpush_monitor LOGIN;
ALTER EXTENSION webpush UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'webpush';
ALTER ROLE webpush_monitor NOLOGIN;
ALTER EXTENSION webpush UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'webpush';
DROP EXTENSION webpush;
ALTER ROLE webpush_sender LOGIN;
CREATE EXTENSION webpush;
ALTER ROLE webpush_sender NOLOGIN;
\set SHOW_CONTEXT errors

\c :"home"
DROP DATABASE regression_webpush_schema_04;
DROP DATABASE regression_webpush_schema_01;
DROP DATABASE regression_webpush_schema_02;
DROP DATABASE regression_webpush_schema_03;
DROP DATABASE regression_webpush_schema_fp;
