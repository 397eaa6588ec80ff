-- Installs the extension and the helpers the other regression tests share.
CREATE EXTENSION webpush;

-- The test cluster allows loopback endpoints for the end-to-end tests;
-- these tests check that they are refused by default.
ALTER DATABASE contrib_regression SET webpush.allow_private_endpoints = off;

CREATE SCHEMA regress;
GRANT USAGE ON SCHEMA regress TO PUBLIC;

-- base64url without padding, both ways, as browsers write keys
CREATE FUNCTION regress.b64url(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT translate(replace(encode(b, 'base64'), E'\n', ''), '+/=', '-_')
$$;
CREATE FUNCTION regress.b64url_decode(t text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT decode(translate(t, '-_', '+/') || repeat('=', (4 - length(t) % 4) % 4), 'base64')
$$;

-- Runs a statement and reports how it failed: SQLSTATE, message, detail, hint.
CREATE FUNCTION regress.try(stmt text, OUT state text, OUT message text,
                            OUT detail text, OUT hint text) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    state := 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END
$$;

-- A valid browser subscription (the RFC 8291 example's receiver keys).
CREATE FUNCTION regress.subscription(endpoint text DEFAULT 'https://push.example.com/send/abc',
                                     p256dh text DEFAULT 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
                                     auth text DEFAULT 'BTBZMqHH6r4Tts7J_aSIgg')
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('endpoint', endpoint, 'expirationTime', null,
                              'keys', jsonb_build_object('p256dh', p256dh, 'auth', auth))
$$;

SELECT extname, extversion FROM pg_extension WHERE extname = 'webpush';
