-- RFC 8291 encryption through webpush_encrypt.

-- Section 5 of RFC 8291: with the example's salt and sender key, the body
-- must be the example's body, byte for byte.
SELECT regress.b64url(webpush_encrypt(
    convert_to('When I grow up, I want to be a watermelon', 'UTF8'),
    'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
    'BTBZMqHH6r4Tts7J_aSIgg',
    regress.b64url_decode('DGv6ra1nlYgDCS1FRnbzlw'),
    'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw')) AS body;

SELECT webpush_encrypt(
    convert_to('When I grow up, I want to be a watermelon', 'UTF8'),
    'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
    'BTBZMqHH6r4Tts7J_aSIgg',
    regress.b64url_decode('DGv6ra1nlYgDCS1FRnbzlw'),
    'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw')
  = regress.b64url_decode('DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN')
  AS rfc8291_example_body;

-- The same keys in standard base64 with padding give the same body.
SELECT webpush_encrypt(
    convert_to('When I grow up, I want to be a watermelon', 'UTF8'),
    replace(encode(regress.b64url_decode('BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4'), 'base64'), E'\n', ''),
    'BTBZMqHH6r4Tts7J/aSIgg==',
    regress.b64url_decode('DGv6ra1nlYgDCS1FRnbzlw'),
    'yfWPiYE+n46HLnH0KqZOF1fJJU3MYrct3AELtAQ+oRw=')
  = regress.b64url_decode('DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN')
  AS standard_base64_accepted;

-- Normal use: a fresh salt and sender key every time.
WITH two AS (
    SELECT webpush_encrypt(convert_to('hello', 'UTF8'),
                           'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
                           'BTBZMqHH6r4Tts7J_aSIgg') AS body
    FROM generate_series(1, 2)
)
SELECT count(DISTINCT body) AS distinct_bodies,
       count(DISTINCT substr(body, 1, 16)) AS distinct_salts,
       count(DISTINCT substr(body, 22, 65)) AS distinct_sender_keys,
       min(length(body)) AS body_length,                  -- 86 + 5 + 1 + 16
       min(get_byte(body, 16) << 24 | get_byte(body, 17) << 16
           | get_byte(body, 18) << 8 | get_byte(body, 19)) AS record_size,
       min(get_byte(body, 20)) AS keyid_length
FROM two;

-- Empty and largest payloads: 3993 bytes fill one 4096-byte record.
SELECT length(webpush_encrypt('', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
                              'BTBZMqHH6r4Tts7J_aSIgg')) AS empty_payload_body,
       length(webpush_encrypt(convert_to(repeat('x', 3993), 'UTF8'),
                              'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
                              'BTBZMqHH6r4Tts7J_aSIgg')) AS largest_body;

-- Bad input: each fails with a clear error.
\x on
SELECT t.call, r.*
FROM (VALUES
    ($$SELECT webpush_encrypt(convert_to(repeat('x', 3994), 'UTF8'), 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4', 'BTBZMqHH6r4Tts7J_aSIgg')$$),
    ($$SELECT webpush_encrypt(NULL, 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4', 'BTBZMqHH6r4Tts7J_aSIgg')$$),
    ($$SELECT webpush_encrypt('x', NULL, 'BTBZMqHH6r4Tts7J_aSIgg')$$),
    ($$SELECT webpush_encrypt('x', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4', NULL)$$),
    ($$SELECT webpush_encrypt('x', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4', 'BTBZMqHH6r4Tts7J_aSIgg', '\x0102')$$),
    ($$SELECT webpush_encrypt('x', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4', 'BTBZMqHH6r4Tts7J_aSIgg', NULL, 'not a key')$$),
    ($$SELECT webpush_encrypt('x', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4', 'short')$$),
    -- a middle character changed: 65 bytes, but not a point on the curve
    ($$SELECT webpush_encrypt('x', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjzPjs7Vd8pZGH6SRpkNtoIAiw4', 'BTBZMqHH6r4Tts7J_aSIgg')$$)
) AS t(call), LATERAL regress.try(t.call) AS r;
\x off
