/* fake-voice: an Enreach Voice simulator (discovery, REST, RTE SignalR hub,
 * webhook sender, control API). All simulator state lives on one loop
 * thread; the HTTP server's handlers copy each request and post it there. */
#ifndef FV_FAKE_VOICE_H
#define FV_FAKE_VOICE_H

struct loop;
struct fake_voice;

struct fake_voice_options {
    const char *host;      /* listen address; default 127.0.0.1 */
    const char *advertise; /* host name put in apiEndpoint/WSSEndpoint; NULL: from host */
    int port;              /* 0: any free port */
    const char *user;      /* integration account, optional (control API too) */
    const char *secret_key;
    const char *tls_cert, *tls_key; /* both set: a TLS listener too (same routes) */
    int tls_port;                   /* 0: any free port */
    const char *endpoint_scheme;    /* "none" (default) or "http": the start setting */
};

struct fake_voice *fake_voice__new(struct loop *loop, const struct fake_voice_options *opt);
/* Binds and starts serving. Returns 0 or -1. */
int fake_voice__start(struct fake_voice *fv);
int fake_voice__port(const struct fake_voice *fv);
/* The TLS listener's port, or 0 without one. */
int fake_voice__tls_port(const struct fake_voice *fv);
/* Stops the server (call before loop__free), then frees. */
void fake_voice__free(struct fake_voice *fv);

#endif
