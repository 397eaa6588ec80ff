-- Rates: webpush_application_rate (an owner's, checked, stored in
-- webpush.applications) and webpush.host_rates (a superuser's setting,
-- checked when set).
SET webpush.subject = 'mailto:ops@example.com';
SELECT webpush_application('regress-rated', 'mailto:rated@example.com') IS NOT NULL AS created;
SELECT webpush_application_rate('regress-rated', 20, 5);
SELECT rate_per_second, rate_burst FROM webpush.applications WHERE name = 'regress-rated';
-- Without a burst: a second's worth, rounded up.
SELECT webpush_application_rate('regress-rated', 2.5);
SELECT rate_per_second, rate_burst FROM webpush.applications WHERE name = 'regress-rated';

-- What cannot be a rate is refused, and the rate stays as it was.
SELECT * FROM regress.try($$SELECT webpush_application_rate('regress-rated', 0)$$);
SELECT * FROM regress.try($$SELECT webpush_application_rate('regress-rated', 0.001)$$);
SELECT * FROM regress.try($$SELECT webpush_application_rate('regress-rated', -1)$$);
SELECT * FROM regress.try($$SELECT webpush_application_rate('regress-rated', 'NaN')$$);
SELECT * FROM regress.try($$SELECT webpush_application_rate('regress-rated', 'Infinity')$$);
SELECT * FROM regress.try($$SELECT webpush_application_rate('regress-rated', 1000001)$$);
SELECT * FROM regress.try($$SELECT webpush_application_rate('regress-rated', 20, 0)$$);
SELECT * FROM regress.try($$SELECT webpush_application_rate('regress-rated', 20, 1000001)$$);
SELECT * FROM regress.try($$SELECT webpush_application_rate('regress-rated', NULL, 3)$$);
SELECT * FROM regress.try($$SELECT webpush_application_rate('regress-unknown', 20)$$);
SELECT * FROM regress.try($$SELECT webpush_application_rate('Bad Name', 20)$$);
SELECT rate_per_second, rate_burst FROM webpush.applications WHERE name = 'regress-rated';
-- The table's constraints hold without the function too: both or neither.
SELECT state FROM regress.try($$UPDATE webpush.applications SET rate_burst = NULL WHERE name = 'regress-rated'$$);
SELECT state FROM regress.try($$UPDATE webpush.applications SET rate_per_second = 0 WHERE name = 'regress-rated'$$);

-- An owner sets its own application's rate; a sender that is not its
-- owner, or an owner of another, cannot; a role without webpush_sender
-- cannot call it at all.
CREATE ROLE regress_rate_owner IN ROLE webpush_sender;
CREATE ROLE regress_rate_sender IN ROLE webpush_sender;
CREATE ROLE regress_rate_nobody;
SELECT webpush_application_grant('regress-rated', 'regress_rate_owner', owner => true);
SELECT webpush_application_grant('regress-rated', 'regress_rate_sender');
SET ROLE regress_rate_owner;
SELECT webpush_application_rate('regress-rated', 100);
SELECT * FROM regress.try($$SELECT webpush_application_rate('default', 1)$$);
SELECT name, rate_per_second, rate_burst FROM webpush.applications
WHERE name IN ('regress-rated', 'default') ORDER BY name;
RESET ROLE;
SET ROLE regress_rate_sender;
SELECT * FROM regress.try($$SELECT webpush_application_rate('regress-rated', 1)$$);
RESET ROLE;
SET ROLE regress_rate_nobody;
SELECT state, message FROM regress.try($$SELECT webpush_application_rate('regress-rated', 1)$$);
RESET ROLE;
-- NULL removes the rate.
SELECT webpush_application_rate('regress-rated', NULL);
SELECT rate_per_second, rate_burst FROM webpush.applications WHERE name = 'regress-rated';

-- webpush.host_rates: host=rate[/burst], checked when set.
ALTER SYSTEM SET webpush.host_rates = 'fcm.googleapis.com=10000/20000, *.notify.windows.com=50, web.push.apple.com=0.5';
ALTER SYSTEM SET webpush.host_rates = 'fcm.googleapis.com=0';
ALTER SYSTEM SET webpush.host_rates = 'fcm.googleapis.com=20/0';
ALTER SYSTEM SET webpush.host_rates = 'fcm.googleapis.com';
ALTER SYSTEM SET webpush.host_rates = 'fcm.googleapis.com=20; web.push.apple.com=20';
ALTER SYSTEM RESET webpush.host_rates;
-- A superuser's: sessions cannot set it.
SELECT state FROM regress.try($$SET webpush.host_rates = 'fcm.googleapis.com=1'$$);

SELECT webpush_application_revoke('regress-rated', r::regrole) FROM unnest(ARRAY['regress_rate_owner', 'regress_rate_sender']) r;
DROP ROLE regress_rate_owner, regress_rate_sender, regress_rate_nobody;
