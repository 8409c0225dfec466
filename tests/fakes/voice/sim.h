/* The simulator's model of one Enreach Voice organisation: the integration
 * account, users and their external 'talking' flag, calls on terminals,
 * injected faults, settings and the log of REST requests. Pure data: no
 * threads, no sockets, so it can be unit-tested; fake_voice.c owns one
 * instance on its loop thread. */
#ifndef FV_SIM_H
#define FV_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "voice_event.h"

#define SIM_ID_LEN    37 /* GUID + NUL */
#define SIM_EMAIL_LEN 321

struct sim_user {
    char id[SIM_ID_LEN];
    char email[SIM_EMAIL_LEN];
    char username[SIM_EMAIL_LEN]; /* the login (UserName); the e-mail unless set */
    bool talking;                 /* the external 'talking' flag (not a call) */
    int64_t talking_since;        /* wall ms of the last change */
    int talking_writes;           /* PUTs received, changed or not */
};

enum sim_dir { SIM_INBOUND = 0, SIM_OUTBOUND = 1 };

struct sim_call {
    char call_id[SIM_ID_LEN];
    char user_id[SIM_ID_LEN];
    char terminal[64];
    int dir;
    int64_t started; /* wall ms */
};

struct sim_fault {
    char method[12]; /* "" or "*": any */
    char path[256];  /* prefix of the request path */
    int status;      /* 0: no status fault (delay only) */
    int retry_after; /* seconds, -1: no header */
    int delay_ms;
    int remaining;
};

/* An availability entry (POST /users/{id}/availability, or made by the
 * user: /_sim/availability). */
struct sim_avail {
    char id[SIM_ID_LEN];
    char user_id[SIM_ID_LEN];
    int event_type_id;
    char source[128];
    char note[256];
    int64_t start_ms;
};

struct sim_request {
    char method[12];
    char *path;
    char *query;
    char *body; /* writes only, else NULL */
    int status;
    int64_t wall_ms;
};

/* Hub subscriptions per connection at most (200,000 users x 5 events); the
 * max_subs setting lowers it to show what a capped hub answers. */
#define SIM_MAX_SUBS 1048576

#define SIM_MAX_OFFERED 64

enum sim_scheme { SIM_SCHEME_NONE = 0, SIM_SCHEME_HTTP };
enum sim_negotiate { SIM_NEG_V1 = 0, SIM_NEG_V0, SIM_NEG_REDIRECT, SIM_NEG_ERROR };
enum sim_available {
    SIM_AVAIL_BOTH = 0,   /* a Completion with the list, and the callback */
    SIM_AVAIL_COMPLETION, /* the Completion only */
    SIM_AVAIL_CALLBACK,   /* the callback, and a Completion without result */
    SIM_AVAIL_UNKNOWN,    /* "Unknown hub method": an error Completion */
    SIM_AVAIL_SILENT,     /* a Completion without result, no callback */
};

struct sim_settings {
    bool reject_auth;
    int token_lifetime_s;
    int ping_interval_ms;
    int client_timeout_ms;
    int framing;           /* enum rte_framing */
    bool discovery_object; /* answer a bare object instead of an array */
    bool discovery_slash;  /* apiEndpoint with trailing slash */
    int event_format;      /* enum voice_event_format */
    bool unknown_events;   /* also send events of unknown types */
    bool refuse_subscribe; /* answer every Subscribe with an error completion */
    int max_subs;          /* per connection; entries beyond get Success:false */
    bool details_callback; /* entry results in a SubscribeDetails callback, not the result */
    int endpoint_scheme;   /* enum sim_scheme: WSSEndpoint without scheme, or http:// */
    int negotiate;         /* enum sim_negotiate */
    bool close_on_expiry;  /* close a hub connection when its token expires */
    int drop_disconnected; /* the next N Disconnected events never reach the hub */
    bool user_status;      /* send UserStatus events after call changes */
    int available;         /* enum sim_available */
    bool offered_set;      /* offered: what AvailableSubscriptions lists and Subscribe takes */
    int n_offered;
    char offered[SIM_MAX_OFFERED][VE_NAME_LEN];
    struct ve_vocab vocab;        /* names, numbers, id fields */
    bool webhook_without_user_id; /* webhooks name the user in EntityId only */
};

struct sim {
    char account_user[SIM_EMAIL_LEN];
    char *account_secret;
    char account_id[SIM_ID_LEN];
    char org_id[SIM_ID_LEN];
    struct sim_user *users;
    size_t n_users;
    /* users by id and by email (open addressing, index + 1; 0 is empty),
     * of the first ix_n users: O(1) lookups at 100,000 users */
    size_t *ix_id, *ix_email;
    size_t ix_cap, ix_n;
    struct sim_call *calls;
    size_t n_calls;
    size_t calls_ended;
    struct sim_fault *faults;
    size_t n_faults;
    struct sim_request *reqs;
    size_t n_reqs, reqs_cap;
    struct sim_settings set;
    struct sim_settings start; /* what reset goes back to (the command line's) */
    struct sim_avail *avail;   /* availability entries, newest last */
    size_t n_avail;
    char *webhook_url;
    char *webhook_secret;
    int webhook_sent;   /* answered 2xx */
    int webhook_failed; /* other status or transport error */
};

void sim__init(struct sim *s);
void sim__free(struct sim *s);
/* Back to the start state: users, calls, faults, requests, settings and
 * the webhook go; the integration account stays. */
void sim__reset(struct sim *s);
void sim__settings_default(struct sim_settings *set);

void sim__new_guid(char out[SIM_ID_LEN]);

/* Sets the integration account (it is also a user of the organisation). */
int sim__set_account(struct sim *s, const char *username, const char *secret);
/* Checks an Authorization header value against the account. */
bool sim__auth_ok(const struct sim *s, const char *authorization);

/* Adds a user; id NULL: a new GUID. Returns NULL when the e-mail is invalid
 * or the e-mail or id is taken (*conflict set then). */
struct sim_user *sim__user_add(struct sim *s, const char *email, const char *id, bool *conflict);
struct sim_user *sim__user_by_id(struct sim *s, const char *id);       /* case-insensitive */
struct sim_user *sim__user_by_email(struct sim *s, const char *email); /* case-insensitive */
/* Writes the 'talking' flag; returns 1 when it changed, 0 when not. */
int sim__set_talking(struct sim *s, struct sim_user *u, bool talking, int64_t now_ms);

/* Starts a call (call_id NULL: a new GUID). NULL when call_id exists. */
struct sim_call *sim__call_start(struct sim *s, const struct sim_user *u, const char *terminal,
                                 int dir, const char *call_id, int64_t now_ms);
/* Removes the call into *ended; returns 0, or -1 when unknown. */
int sim__call_end(struct sim *s, const char *call_id, struct sim_call *ended);
size_t sim__user_calls(const struct sim *s, const char *user_id);

int sim__fault_add(struct sim *s, const struct sim_fault *f);
/* Consumes one use of the first fault matching method and path. Returns 1
 * and copies it to *out, or 0. */
int sim__fault_take(struct sim *s, const char *method, const char *path, struct sim_fault *out);

void sim__record(struct sim *s, const char *method, const char *path, const char *query,
                 const char *body, int status, int64_t now_ms);

/* JSON views (malloc'd strings). */
char *sim__state_json(const struct sim *s);
char *sim__requests_json(const struct sim *s);
char *sim__users_api_json(const struct sim *s); /* GET {api}/users */
char *sim__settings_json(const struct sim_settings *set);
/* Applies {"key": value, ...}; unknown keys or bad values fail with err. */
int sim__settings_apply(struct sim_settings *set, const char *json, char *err, size_t errlen);
/* Whether the hub offers name (Subscribe takes it, AvailableSubscriptions
 * lists it). */
bool sim__offers(const struct sim_settings *set, const char *name);
/* The AvailableSubscriptions list (a malloc'd JSON array of names). */
char *sim__offered_json(const struct sim_settings *set);

/* Availability entries (sim_avail.c). Adds one (id: a new GUID); NULL on
 * out of memory. */
struct sim_avail *sim__avail_add(struct sim *s, const char *user_id, int event_type_id,
                                 const char *source, const char *note, int64_t now_ms);
/* Removes the user's entry id; 0, or -1 when there is none. */
int sim__avail_remove(struct sim *s, const char *user_id, const char *id);
/* The user's newest entry, or NULL. */
const struct sim_avail *sim__avail_current(const struct sim *s, const char *user_id);
/* The entry as the API answers it: {"Id","UserID","EventTypeID",
 * "EventSource","Note","StartTime","EndTime"}. */
char *sim__avail_json(const struct sim_avail *a);
void sim__avail_clear(struct sim *s);

#endif
