/* Home Assistant MQTT discovery (docs/homeassistant.md), a daemon component.
 *
 * With homeassistant.enabled, every configured user becomes an HA device
 * with two binary sensors, "Teams busy" (P teams/<id>/busy) and "Voice
 * talking" (P voice/<id>/talking), announced as retained discovery configs
 *
 *   <prefix>/binary_sensor/<node>/teams_busy/config
 *   <prefix>/binary_sensor/<node>/voice_talking/config
 *
 * Each process announces the sensors whose state it publishes (the Graph
 * role the Teams one, the Voice role the Voice one), with its own B/state as
 * availability. Configs are republished when <prefix>/status says "online";
 * on SIGHUP removed users' configs are cleared and new users' published.
 */
#ifndef PS_HASS_H
#define PS_HASS_H

#include <stddef.h>

struct daemon_component;
extern const struct daemon_component hass_component;

/* Node id for an address: HA allows only [a-zA-Z0-9_-] in node ids, and
 * topic ids hold '%', '@' and '.'. Up to 40 sanitised characters of the
 * lower-cased address ('_' for any other byte), '_', and 8 hex digits of
 * SHA-256(topic_prefix + lower-cased address), so distinct users (and the
 * same user under two topic prefixes) get distinct, stable ids. Returns 0,
 * or -1 when out is too small (HASS_NODE_MAX is enough). */
#define HASS_NODE_MAX 64
int hass__node_id(const char *topic_prefix, const char *address, char *out, size_t len);

#endif
