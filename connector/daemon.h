/* The `run` verb: wires config, loop, MQTT bus and HTTP listener, then the
 * components (component.h: the Graph client and side, the Voice side, the
 * mapper, Home Assistant discovery), and runs until SIGTERM/SIGINT. */
#ifndef PS_DAEMON_H
#define PS_DAEMON_H

struct config;
struct tunables;

/* Returns the process exit code: 0 clean stop, 1 runtime failure. tun: the
 * knobs read at start (core/tunables.h). */
int daemon__run(struct config *cfg, const struct tunables *tun);

#endif
