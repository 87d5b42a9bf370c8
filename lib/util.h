/*
 * util - small, library-safe helpers shared by both daemons and the plugin:
 * checked allocation helpers, bounded copies, escaping of untrusted text for
 * logs, and a monotonic clock. Nothing here exits, prints or keeps state.
 */
#ifndef PORTREEVE_UTIL_H
#define PORTREEVE_UTIL_H

#include <stddef.h>
#include <stdint.h>

char *util_strdup(const char *s);
char *util_strndup(const char *s, size_t n);
/* realloc(p, n * size) with the multiplication checked. */
void *util_reallocarray(void *p, size_t n, size_t size);
/* Copy with truncation; returns strlen(src) so callers can detect truncation. */
size_t util_strlcpy(char *dst, const char *src, size_t dstlen);

/*
 * Copy untrusted bytes into dst for a log line: printable ASCII is kept,
 * '\\' and '"' and everything else becomes \xHH; the result is cut at
 * dstlen - 1 bytes with "..." marking the cut. Always NUL-terminates.
 * Returns dst.
 */
char *util_escape(char *dst, size_t dstlen, const char *src, size_t srclen);

/*
 * Next item of a list separated by white space and/or commas, as Postfix
 * lists are written ("a, b c"). Returns the item's start and sets *len, or
 * returns NULL at the end; *cursor advances past the item.
 */
const char *util_list_next(const char **cursor, size_t *len);

/* Monotonic time in microseconds. */
uint64_t util_now_us(void);
/* Wall-clock time in milliseconds since the epoch. */
uint64_t util_wall_ms(void);

/*
 * The whole file at path, NUL-terminated (the caller frees it), its length
 * in *lenp. NULL with errno set: the error of opening or reading it (a
 * directory gives EISDIR), EFBIG when it holds more than max bytes, ENOMEM.
 */
char *util_read_file(const char *path, size_t max, size_t *lenp);

/* Case-insensitive ASCII compare of a length-delimited string with a C string. */
int util_strncaseeq(const char *a, size_t alen, const char *b);

#endif
