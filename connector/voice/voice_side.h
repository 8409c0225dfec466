/* The Voice side as a daemon component (component.h): its tenants, the
 * webhook route and the talking writer it provides to the mapper
 * (voice_side.c). */
#ifndef PS_VOICE_SIDE_H
#define PS_VOICE_SIDE_H

struct daemon_component;
extern const struct daemon_component voice_component;

#endif
