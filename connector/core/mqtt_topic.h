/* MQTT topic rules (MQTT 3.1.1 and 5.0, section 4.7) and broker URLs. Pure. */
#ifndef PS_MQTT_TOPIC_H
#define PS_MQTT_TOPIC_H

#include <stdbool.h>

#define MQTT_TOPIC_MAX 65535

/* A topic name is non-empty, at most 65535 bytes, without '+' or '#'. */
bool mqtt_topic__valid(const char *topic);
/* A filter is non-empty; '#' only as the whole last level; '+' only as a
 * whole level. */
bool mqtt_topic__filter_valid(const char *filter);
/* Whether topic name `topic` matches filter `filter`. A filter starting with
 * a wildcard does not match a topic starting with '$' (e.g. $SYS/...).
 * Invalid filters or topics never match. */
bool mqtt_topic__matches(const char *filter, const char *topic);
/* The TCP port of a Paho server URI ([scheme://]host[:port][/path]): the
 * scheme's default (tcp/mqtt 1883, ssl/mqtts 8883, ws 80, wss 443) when it
 * has none; 0 when unknown or invalid. */
int mqtt_topic__url_port(const char *url);

#endif
