/* Component readiness for GET /readyz. Components keep their order of first
 * registration so that the JSON is stable. */
#include "core/health.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct component {
    char *name;
    bool ready;
    char *reason;
    struct component *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct component *components;

static char *dup_or_null(const char *s)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p) {
        LOG_ERROR("health", "out of memory");
        abort();
    }
    return p;
}

void health__set(const char *component, bool ready, const char *reason)
{
    if (!component)
        return;
    pthread_mutex_lock(&lock);
    struct component **pp = &components;
    while (*pp && strcmp((*pp)->name, component))
        pp = &(*pp)->next;
    struct component *c = *pp;
    if (!c) {
        c = calloc(1, sizeof(*c));
        if (!c) {
            LOG_ERROR("health", "out of memory");
            abort();
        }
        c->name = dup_or_null(component);
        *pp = c;
    }
    c->ready = ready;
    free(c->reason);
    c->reason = dup_or_null(reason);
    pthread_mutex_unlock(&lock);
}

static void component__free(struct component *c)
{
    free(c->name);
    free(c->reason);
    free(c);
}

void health__remove(const char *component)
{
    if (!component)
        return;
    pthread_mutex_lock(&lock);
    for (struct component **pp = &components; *pp; pp = &(*pp)->next) {
        if (!strcmp((*pp)->name, component)) {
            struct component *c = *pp;
            *pp = c->next;
            component__free(c);
            break;
        }
    }
    pthread_mutex_unlock(&lock);
}

char *health__json(bool *ready)
{
    bool all = true;
    cJSON *root = cJSON_CreateObject();
    cJSON *comps = cJSON_CreateObject();
    pthread_mutex_lock(&lock);
    for (const struct component *c = components; c; c = c->next) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "ready", c->ready);
        if (c->reason)
            cJSON_AddStringToObject(o, "reason", c->reason);
        else
            cJSON_AddNullToObject(o, "reason");
        cJSON_AddItemToObject(comps, c->name, o);
        all = all && c->ready;
    }
    pthread_mutex_unlock(&lock);
    /* with nothing registered there is nothing to wait for */
    cJSON_AddBoolToObject(root, "ready", all);
    cJSON_AddItemToObject(root, "components", comps);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (ready)
        *ready = all;
    return s;
}

void health__reset(void)
{
    pthread_mutex_lock(&lock);
    struct component *c = components;
    components = NULL;
    pthread_mutex_unlock(&lock);
    while (c) {
        struct component *next = c->next;
        component__free(c);
        c = next;
    }
}
