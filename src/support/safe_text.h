/*
 * safe_text.h
 *		Bytes from the network made safe to store as text: what a push
 *		service answers (response bodies) and what libcurl reports.
 *
 * A push service may send anything, and PostgreSQL refuses text that is not
 * valid in the database encoding (pg_dump and pg_restore included).  Valid
 * UTF-8 is kept; invalid bytes and control characters become \xNN escapes;
 * the result is cut at a character boundary.  Pure C, no PostgreSQL headers.
 */
#ifndef WEBPUSH_SAFE_TEXT_H
#define WEBPUSH_SAFE_TEXT_H

#include <stddef.h>

/*
 * Write a NUL-terminated, valid UTF-8 rendering of in[0..len) into out
 * (capacity outcap >= 1) and return its length.  With ascii_only (for
 * databases whose encoding is not UTF-8) every non-ASCII character is
 * escaped too, as \u{XXXX}.  A multibyte sequence cut short by the end of
 * the input is dropped: the caller kept only the first bytes of a body.
 */
extern size_t safe_text(const char *in, size_t len, int ascii_only,
						char *out, size_t outcap);

#endif							/* WEBPUSH_SAFE_TEXT_H */
