/* B/health: see status.h. */
#include "core/status.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/loop.h"

static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static cJSON *status_doc;        /* {"tenants":{...}} */
static struct loop *status_loop; /* set while attached */
static struct bus *status_bus;
static char *status_topic;
static char *status_instance;
static bool status_queued; /* a publish is posted and not yet run */
static bool status_muted;  /* a standby publishes no B/health */

static cJSON *status__tenants(void)
{
    if (!status_doc) {
        status_doc = cJSON_CreateObject();
        cJSON_AddObjectToObject(status_doc, "tenants");
    }
    return cJSON_GetObjectItemCaseSensitive(status_doc, "tenants");
}

static void status__publish(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&status_lock);
    status_queued = false;
    if (!status_bus || status_muted) {
        pthread_mutex_unlock(&status_lock);
        return;
    }
    cJSON *copy = cJSON_Duplicate(status_doc, true);
    cJSON_AddStringToObject(copy, "instance", status_instance ? status_instance : "");
    char *text = cJSON_PrintUnformatted(copy);
    struct bus *bus = status_bus;
    char *topic = status_topic;
    pthread_mutex_unlock(&status_lock);
    if (text)
        bus__publish_state(bus, topic, text); /* loop thread: topic stays valid */
    free(text);
    cJSON_Delete(copy);
}

/* Caller holds status_lock. */
static void status__schedule(void)
{
    if (!status_loop || status_queued)
        return;
    if (loop__post(status_loop, status__publish, NULL) == 0)
        status_queued = true;
}

void status__attach(struct loop *loop, struct bus *bus, const char *topic, const char *instance)
{
    pthread_mutex_lock(&status_lock);
    status__tenants();
    status_loop = loop;
    status_bus = bus;
    free(status_topic);
    free(status_instance);
    status_topic = strdup(topic);
    status_instance = strdup(instance ? instance : "");
    pthread_mutex_unlock(&status_lock);
    status__publish(NULL);
}

void status__detach(void)
{
    pthread_mutex_lock(&status_lock);
    status_loop = NULL;
    status_bus = NULL;
    pthread_mutex_unlock(&status_lock);
}

void status__mute(bool muted)
{
    pthread_mutex_lock(&status_lock);
    status_muted = muted;
    if (!muted)
        status__schedule();
    pthread_mutex_unlock(&status_lock);
}

void status__set(const char *tenant, const char *section, cJSON *value)
{
    pthread_mutex_lock(&status_lock);
    cJSON *tenants = status__tenants();
    cJSON *t = cJSON_GetObjectItemCaseSensitive(tenants, tenant);
    if (!t)
        t = cJSON_AddObjectToObject(tenants, tenant);
    if (value && cJSON_GetObjectItemCaseSensitive(t, section))
        cJSON_ReplaceItemInObjectCaseSensitive(t, section, value);
    else if (value)
        cJSON_AddItemToObject(t, section, value);
    else
        cJSON_DeleteItemFromObjectCaseSensitive(t, section);
    status__schedule();
    pthread_mutex_unlock(&status_lock);
}

char *status__json(void)
{
    pthread_mutex_lock(&status_lock);
    status__tenants();
    char *text = cJSON_PrintUnformatted(status_doc);
    pthread_mutex_unlock(&status_lock);
    return text;
}

void status__reset(void)
{
    pthread_mutex_lock(&status_lock);
    cJSON_Delete(status_doc);
    status_doc = NULL;
    status_muted = false;
    pthread_mutex_unlock(&status_lock);
}
