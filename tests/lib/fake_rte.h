/* An in-process stand-in for the RTE WebSocket transport
 * (connector/voice/rte.h), for component tests: link tests/lib/fake_rte.c
 * instead of voice/rte.c (it defines every rte__ function, so the linker
 * never pulls rte.o; fake_bus.c does the same for the bus).
 *
 * It behaves like rte.c seen through rte.h: every connection gets a
 * generation; callbacks reach the loop through loop__post, on a later
 * turn; opening a new connection reports the current one closed ("replaced
 * by a new connection"); rte__close reports "closed by the client"; after
 * rte__stop nothing more is posted. There is no socket: the test plays the
 * hub. It sees what the tenant opened (URL, bearer) and sent (the frames of
 * the current connection), and injects the hub's side: the upgrade
 * accepted or refused, messages, the server's close, errors. The reasons
 * are worded as libwebsockets 4.1 words them, so the tenant's log and
 * B/health read as in production.
 */
#ifndef PS_TESTS_FAKE_RTE_H
#define PS_TESTS_FAKE_RTE_H

#include <stdbool.h>
#include <stddef.h>

#include "voice/rte.h"

/* The link most recently made by rte__new() and not freed, or NULL. */
struct rte_link *fake_rte__last(void);

/* Connections opened so far (rte__open calls that gave a generation). */
unsigned fake_rte__opens(const struct rte_link *l);
/* The current connection: its generation (0: none, or closed), whether the
 * upgrade was accepted, and what it was opened with. */
unsigned fake_rte__gen(const struct rte_link *l);
bool fake_rte__established(const struct rte_link *l);
const char *fake_rte__url(const struct rte_link *l);
const char *fake_rte__bearer(const struct rte_link *l);
const char *fake_rte__ca_file(const struct rte_link *l);
/* The text frames sent on the current connection, in order: how many, and
 * the n-th (0-based; NULL past the end). */
size_t fake_rte__sent_count(const struct rte_link *l);
const char *fake_rte__sent(const struct rte_link *l, size_t n);

/* The hub's side, for the current connection (nothing happens when there is
 * none). Each posts the callback to the loop, as rte.c's service thread
 * does; the test settles the loop to run it. */
/* The 101 arrived: on_open. */
void fake_rte__accept(struct rte_link *l);
/* The upgrade was answered with status instead of 101 (401 unknown token,
 * 404 unknown connection id, 409, ...): the connection failed. */
void fake_rte__refuse(struct rte_link *l, int status);
/* Any other connection error (refused, TLS, DNS): "connection failed: why". */
void fake_rte__fail(struct rte_link *l, const char *why);
/* One WebSocket message (any bytes: a part of a record, several records). */
void fake_rte__data(struct rte_link *l, const char *data, size_t len);
/* One message holding one SignalR record: json and the 0x1E separator. */
void fake_rte__record(struct rte_link *l, const char *json);
/* The server closed the WebSocket. */
void fake_rte__drop(struct rte_link *l);

#endif
