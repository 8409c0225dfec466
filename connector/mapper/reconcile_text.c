/* The texts the reconcile core keeps per user (reconcile.h): a value of
 * the vocabulary below is kept as a pointer to its constant, anything else
 * as the user's own heap copy. Teams reports a closed vocabulary
 * (docs/graph.md "Presence, busy and teams/<id>/busy"), so at 100,000 users
 * nearly every value is a pointer (8 bytes) where the fixed arrays took 65
 * (docs/performance.md section 7). */
#include "mapper/reconcile.h"

#include <stdlib.h>
#include <string.h>

/* Graph's availability and activity values (docs/graph.md), and the sources
 * both sides and the core report (docs/topics.md). */
static const char *const reconcile_text__vocab[] = {
    "",
    "Available",
    "AvailableIdle",
    "Away",
    "BeRightBack",
    "Busy",
    "BusyIdle",
    "DoNotDisturb",
    "Offline",
    "PresenceUnknown",
    "InACall",
    "InAConferenceCall",
    "Inactive",
    "InAMeeting",
    "OffWork",
    "OutOfOffice",
    "Presenting",
    "UrgentInterruptionsOnly",
    "notification",
    "resync",
    "read",
    "rte",
    "webhook",
};

#define RECONCILE_TEXT_N (sizeof(reconcile_text__vocab) / sizeof(reconcile_text__vocab[0]))

static bool reconcile_text__is_vocab(const char *p)
{
    for (size_t i = 0; i < RECONCILE_TEXT_N; i++) {
        if (p == reconcile_text__vocab[i])
            return true;
    }
    return false;
}

/* v as the core keeps it: the vocabulary's constant, or a copy of at most
 * RECONCILE_VALUE_MAX bytes (NULL when out of memory). */
static const char *reconcile_text__make(const char *v)
{
    if (!v)
        v = "";
    for (size_t i = 0; i < RECONCILE_TEXT_N; i++) {
        if (strcmp(v, reconcile_text__vocab[i]) == 0)
            return reconcile_text__vocab[i];
    }
    return strndup(v, RECONCILE_VALUE_MAX);
}

void reconcile_text__set(const char **slot, const char *v)
{
    if (*slot && v && strcmp(*slot, v) == 0)
        return;
    const char *n = reconcile_text__make(v);
    reconcile_text__release(slot);
    *slot = n ? n : reconcile_text__vocab[0];
}

void reconcile_text__release(const char **slot)
{
    if (*slot && !reconcile_text__is_vocab(*slot))
        free((char *)*slot);
    *slot = NULL;
}

int reconcile_text__own(const char **slot)
{
    if (!*slot || reconcile_text__is_vocab(*slot))
        return 0;
    const char *copy = strdup(*slot);
    *slot = copy ? copy : reconcile_text__vocab[0];
    return copy ? 0 : -1;
}

const char *reconcile_text__get(const char *slot)
{
    return slot ? slot : "";
}
