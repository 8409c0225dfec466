/* The users of a tenant: the inline "users" array or the "users_file" (one
 * address a line), each a valid e-mail address that can be a topic id, no
 * address twice. An error names the JSON path of the bad address, or the
 * users file and its line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/jsonconf.h"
#include "core/str.h"

/* Where each address came from, for error messages. */
struct user_src {
    const char *tpath; /* tenants[i] */
    const char *file;  /* NULL: inline "users" array */
    int *lines;        /* line numbers in file */
};

static void config_users__pos(const struct user_src *s, size_t i, char *out, size_t n)
{
    if (s->file)
        snprintf(out, n, "line %d", s->lines[i]);
    else
        snprintf(out, n, "%s.users[%zu]", s->tpath, i);
}

static int config_users__fail(struct jsonconf *c, const struct user_src *s, size_t i,
                              const char *msg)
{
    char p[256];

    if (!s->file) {
        config_users__pos(s, i, p, sizeof(p));
        return jsonconf__fail(c, p, "%s", msg);
    }
    jsonconf__path_key(p, sizeof(p), s->tpath, "users_file");
    return jsonconf__fail(c, p, "%s:%d: %s", s->file, s->lines[i], msg);
}

static void config_users__trim(char *s)
{
    size_t n = strlen(s), start = 0;

    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    while (isspace((unsigned char)s[start]))
        start++;
    memmove(s, s + start, n - start + 1);
}

static int config_users__push(struct tenant_config *t, int **lines, size_t *cap, const char *addr,
                              int ln)
{
    if (t->n_users == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        char **u = realloc(t->users, ncap * sizeof(char *));
        int *l = u ? realloc(*lines, ncap * sizeof(int)) : NULL;
        if (u)
            t->users = u;
        if (!l)
            return -1;
        *lines = l;
        *cap = ncap;
    }
    if (!(t->users[t->n_users] = strdup(addr)))
        return -1;
    (*lines)[t->n_users++] = ln;
    return 0;
}

/* One address a line; blank lines and lines starting with # are skipped. */
static int config_users__read_file(struct jsonconf *c, const char *p, struct tenant_config *t,
                                   int **lines)
{
    FILE *f = fopen(t->users_file, "r");
    char *line = NULL;
    size_t len = 0, cap = 0;
    int ln = 0, rc = 0;

    if (!f)
        return jsonconf__fail(c, p, "cannot read %s: %s", t->users_file, strerror(errno));
    while (rc == 0 && getline(&line, &len, f) >= 0) {
        ln++;
        config_users__trim(line);
        if (line[0] && line[0] != '#' && config_users__push(t, lines, &cap, line, ln) < 0)
            rc = jsonconf__fail(c, p, "out of memory");
    }
    if (rc == 0 && ferror(f))
        rc = jsonconf__fail(c, p, "cannot read %s: %s", t->users_file, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}

static int config_users__cmp(const void *a, const void *b, void *users)
{
    char **u = users;
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    int r = strcasecmp(u[ia], u[ib]);

    return r ? r : (ia > ib) - (ia < ib);
}

/* Reports the earliest second occurrence of any address, naming both. */
static int config_users__check_duplicates(struct jsonconf *c, const struct user_src *s,
                                          struct tenant_config *t)
{
    size_t *idx = malloc((t->n_users + 1) * sizeof(size_t));
    size_t first = 0, second = SIZE_MAX;
    char what[256], msg[512];

    if (!idx)
        return jsonconf__fail(c, s->tpath, "out of memory");
    for (size_t i = 0; i < t->n_users; i++)
        idx[i] = i;
    qsort_r(idx, t->n_users, sizeof(size_t), config_users__cmp, t->users);
    for (size_t i = 1; i < t->n_users; i++) {
        bool group_start = i < 2 || strcasecmp(t->users[idx[i - 2]], t->users[idx[i - 1]]);
        if (group_start && !strcasecmp(t->users[idx[i - 1]], t->users[idx[i]]) && idx[i] < second) {
            first = idx[i - 1];
            second = idx[i];
        }
    }
    free(idx);
    if (second == SIZE_MAX)
        return 0;
    config_users__pos(s, first, what, sizeof(what));
    snprintf(msg, sizeof(msg), "duplicate \"%.100s\" (same as %s)", t->users[second], what);
    return config_users__fail(c, s, second, msg);
}

static int config_users__load(struct jsonconf *c, const cJSON *tobj, const char *tpath,
                              struct tenant_config *t, int **lines)
{
    const cJSON *u = jsonconf__member(tobj, "users"), *uf = jsonconf__member(tobj, "users_file");
    char p[256];
    size_t cap = 0, i = 0;
    const cJSON *it;

    jsonconf__path_key(p, sizeof(p), tpath, uf ? "users_file" : "users");
    if (u && uf)
        return jsonconf__fail(c, p, "give either users or users_file, not both");
    if (!u && !uf)
        return jsonconf__fail(c, p, "missing; give users or users_file");
    if (uf) {
        if (!cJSON_IsString(uf) || !uf->valuestring[0])
            return jsonconf__fail(c, p, "must be a non-empty string");
        if (!(t->users_file = str__path(c->base_dir, uf->valuestring)))
            return jsonconf__fail(c, p, "out of memory");
        return config_users__read_file(c, p, t, lines);
    }
    if (!cJSON_IsArray(u))
        return jsonconf__fail(c, p, "must be an array of e-mail addresses");
    cJSON_ArrayForEach(it, u)
    {
        char q[256];
        jsonconf__path_index(q, sizeof(q), p, i++);
        if (!cJSON_IsString(it))
            return jsonconf__fail(c, q, "must be a string");
        if (config_users__push(t, lines, &cap, it->valuestring, 0) < 0)
            return jsonconf__fail(c, q, "out of memory");
    }
    return 0;
}

int config_users__parse(struct jsonconf *c, const cJSON *tobj, const char *tpath,
                        struct tenant_config *t)
{
    int *lines = NULL;
    struct user_src s = {tpath, NULL, NULL};
    const char *e;
    char msg[256];
    int rc = config_users__load(c, tobj, tpath, t, &lines);

    s.file = t->users_file;
    s.lines = lines;
    for (size_t i = 0; rc == 0 && i < t->n_users; i++) {
        if ((e = jsonconf__check_email(t->users[i]))) {
            snprintf(msg, sizeof(msg), "%s (\"%.100s\")", e, t->users[i]);
            rc = config_users__fail(c, &s, i, msg);
        }
    }
    if (rc == 0 && t->n_users == 0) {
        char p[256];
        jsonconf__path_key(p, sizeof(p), tpath, t->users_file ? "users_file" : "users");
        rc = jsonconf__fail(c, p, "no users listed");
    }
    if (rc == 0)
        rc = config_users__check_duplicates(c, &s, t);
    free(lines);
    return rc;
}
