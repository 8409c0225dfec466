/* Small string helpers that every component used to write for itself (curl's
 * lib/curlx/ idea): concatenation, a URL without its trailing slashes, a
 * copy that keeps NULL, a path relative to a directory, a printf into an
 * optional error buffer, and one growing string buffer. All allocate with
 * malloc; NULL means out of memory unless said otherwise. */
#ifndef PS_CORE_STR_H
#define PS_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>

/* The strings up to the NULL concatenated: str__cat("a", "/", "b", NULL). */
char *str__cat(const char *first, ...) __attribute__((sentinel));
/* A copy of s, or NULL when s is NULL (then not an error). */
char *str__dup(const char *s);
/* A copy of s without its trailing '/' characters ("https://x/" ->
 * "https://x"); NULL when s is NULL. */
char *str__trim_slash(const char *s);
/* file as is when absolute or when dir is NULL or "", else dir/file. */
char *str__path(const char *dir, const char *file);
/* vsnprintf into buf when buf and len are given (error messages that the
 * caller may not want). */
void str__printf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A growing NUL-terminated string. Zero-initialise it; once an allocation
 * fails it stays failed (s NULL, oom true), so a builder checks once at the
 * end. */
struct strbuf {
    char *s;
    size_t len, cap;
    bool oom;
};

void strbuf__put(struct strbuf *b, const char *src, size_t n);
void strbuf__puts(struct strbuf *b, const char *src);
void strbuf__printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The string (the caller frees it; "" when nothing was put), or NULL after
 * a failure; b is empty again. */
char *strbuf__take(struct strbuf *b);
/* Marks b failed (an allocation of the caller's failed): take gives NULL. */
void strbuf__fail(struct strbuf *b);
void strbuf__free(struct strbuf *b);

#endif
