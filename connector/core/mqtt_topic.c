/* MQTT topic rules and broker URLs (mqtt_topic.h). */
#include "core/mqtt_topic.h"

#include <stddef.h>
#include <string.h>

bool mqtt_topic__valid(const char *topic)
{
    if (!topic || !*topic || strlen(topic) > MQTT_TOPIC_MAX)
        return false;
    return strpbrk(topic, "+#") == NULL;
}

bool mqtt_topic__filter_valid(const char *filter)
{
    if (!filter || !*filter || strlen(filter) > MQTT_TOPIC_MAX)
        return false;
    for (const char *p = filter; *p; p++) {
        if (*p != '+' && *p != '#')
            continue;
        bool whole_level = (p == filter || p[-1] == '/') && (p[1] == '\0' || p[1] == '/');
        if (!whole_level || (*p == '#' && p[1] != '\0'))
            return false;
    }
    return true;
}

bool mqtt_topic__matches(const char *filter, const char *topic)
{
    if (!mqtt_topic__filter_valid(filter) || !mqtt_topic__valid(topic))
        return false;
    /* MQTT §4.7.2: $-topics are not matched by a leading wildcard. */
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        return false;
    const char *f = filter, *t = topic;
    for (;;) {
        if (f[0] == '#')
            return true;
        const char *fe = strchr(f, '/'), *te = strchr(t, '/');
        size_t fl = fe ? (size_t)(fe - f) : strlen(f);
        size_t tl = te ? (size_t)(te - t) : strlen(t);
        bool plus = fl == 1 && f[0] == '+';
        if (!plus && (fl != tl || memcmp(f, t, fl) != 0))
            return false;
        if (!fe && !te)
            return true;
        if (!te) /* "a/#" also matches "a" (the parent level) */
            return strcmp(fe + 1, "#") == 0;
        if (!fe)
            return false;
        f = fe + 1;
        t = te + 1;
    }
}

/* The broker's TCP port in a Paho server URI ([scheme://]host[:port][/path],
 * host possibly [v6]); the scheme's default when there is none, 0 if unknown. */
int mqtt_topic__url_port(const char *url)
{
    const char *sep = url ? strstr(url, "://") : NULL;
    const char *host = sep ? sep + 3 : url;
    if (!host || !*host)
        return 0;
    size_t scheme_len = sep ? (size_t)(sep - url) : 0;
    const char *end = host + strcspn(host, "/?#");
    const char *p = host;
    if (*p == '[') {
        p = memchr(p, ']', (size_t)(end - p));
        if (!p)
            return 0;
    }
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (colon) {
        int port = 0;
        for (const char *d = colon + 1; d < end; d++) {
            if (*d < '0' || *d > '9' || port > 65535)
                return 0;
            port = port * 10 + (*d - '0');
        }
        return port > 0 && port <= 65535 ? port : 0;
    }
    static const struct {
        const char *scheme;
        int port;
    } defaults[] = {{"tcp", 1883},   {"mqtt", 1883}, {"ssl", 8883},
                    {"mqtts", 8883}, {"ws", 80},     {"wss", 443}};
    if (!sep)
        return 1883;
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (strlen(defaults[i].scheme) == scheme_len &&
            strncmp(url, defaults[i].scheme, scheme_len) == 0)
            return defaults[i].port;
    return 0;
}
