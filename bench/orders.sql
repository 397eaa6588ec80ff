-- The tables and functions the trigger benchmarks (bench/trigger.sh,
-- bench/trigger_callgrind.sh) insert into: the tutorial's orders, 200 users
-- with one subscription each (their endpoints are never called), the
-- PL/pgSQL form of the tutorial's trigger, and three PL/pgSQL triggers to
-- compare it with.
CREATE EXTENSION webpush;
SELECT webpush_keys();
CREATE TABLE orders (id bigserial PRIMARY KEY, user_id text, item text NOT NULL);
SELECT webpush_subscribe(jsonb_build_object(
         'endpoint', 'https://push.example.com/bench/' || i,
         'keys', jsonb_build_object(
           'p256dh', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
           'auth', 'BTBZMqHH6r4Tts7J_aSIgg')), 'user-' || i)
FROM generate_series(1, 200) i;
CREATE FUNCTION notify_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM webpush_send_user(NEW.user_id,
    webpush_notification('Order received', 'Your ' || NEW.item || ' is on its way',
                         '/orders/' || NEW.id));
  RETURN NEW;
END $$;
-- The PL/pgSQL form's floor: a PERFORM with the same argument
-- expressions, calling a built-in function that does nothing with them
-- (num_nulls): what PL/pgSQL's trigger and statement cost around any
-- function it calls, before that function does anything.
CREATE FUNCTION perform_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_catalog.num_nulls(NEW.user_id, 'Order received', 'Your ' || NEW.item || ' is on its way',
                               '/orders/' || NEW.id);
  RETURN NEW;
END $$;
-- An empty trigger function: what any PL/pgSQL trigger costs.
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
-- The same trigger writing its message to a log table of its own, with no
-- extension: what one INSERT from a PL/pgSQL trigger costs.
CREATE TABLE order_log (id bigserial PRIMARY KEY, user_id text, body text,
                        created_at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION log_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO order_log (user_id, body) VALUES (NEW.user_id, 'Your ' || NEW.item || ' is on its way');
  RETURN NEW;
END $$;
