/* The stderr capture of log_capture.h. */
#include "log_capture.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int lc_saved = -1; /* the real stderr while capturing */
static FILE *lc_file;

int log_capture__start(void)
{
    if (lc_saved >= 0)
        return 0;
    fflush(stderr);
    lc_file = tmpfile();
    if (!lc_file)
        return -1;
    lc_saved = dup(STDERR_FILENO);
    if (lc_saved < 0 || dup2(fileno(lc_file), STDERR_FILENO) < 0) {
        fclose(lc_file);
        lc_file = NULL;
        return -1;
    }
    return 0;
}

/* The whole capture so far, malloc'd and NUL-terminated. */
static char *lc__read(void)
{
    fflush(stderr);
    long end = lseek(fileno(lc_file), 0, SEEK_END);
    char *buf = malloc(end > 0 ? (size_t)end + 1 : 1);
    if (!buf)
        return NULL;
    ssize_t n = end > 0 ? pread(fileno(lc_file), buf, (size_t)end, 0) : 0;
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* Whether line holds every substring of ap, in order. */
static bool lc__line_has(const char *line, const char *first, va_list ap)
{
    const char *at = line;
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        if (!(at = strstr(at, s)))
            return false;
        at += strlen(s);
    }
    return true;
}

size_t log_capture__count_all(const char *first, ...)
{
    char *buf = lc_file ? lc__read() : NULL;
    size_t n = 0;
    for (char *line = buf, *nl; line && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        va_list ap;
        va_start(ap, first);
        n += lc__line_has(line, first, ap);
        va_end(ap);
        if (!nl)
            break;
    }
    free(buf);
    return n;
}

bool log_capture__has(const char *text)
{
    char *buf = lc_file ? lc__read() : NULL;
    bool found = buf && strstr(buf, text);
    free(buf);
    return found;
}

void log_capture__stop(void)
{
    if (lc_saved < 0)
        return;
    char *buf = lc__read();
    dup2(lc_saved, STDERR_FILENO);
    close(lc_saved);
    lc_saved = -1;
    fclose(lc_file);
    lc_file = NULL;
    if (buf)
        fputs(buf, stderr);
    free(buf);
}
