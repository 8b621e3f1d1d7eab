/* pre_discovery.h — the per-process negotiation-discovery cache
 * (ARCHITECTURE.md "Negotiation discovery"): peers recently found not to
 * speak secsock, so the next connection neither probes them (outbound,
 * keyed by address and port) nor waits server-first-wait for them
 * (inbound, keyed by address only). */
#ifndef PRE_DISCOVERY_H
#define PRE_DISCOVERY_H

#include <stdbool.h>
#include <sys/socket.h>

enum { PRE_DISCOVERY_TTL_MS = 10 * 60 * 1000 };

void pre_discovery_note_clear(const struct sockaddr_storage *peer, bool with_port);
bool pre_discovery_is_clear(const struct sockaddr_storage *peer, bool with_port);
void pre_discovery_forget(const struct sockaddr_storage *peer, bool with_port);
/* Outbound peers (address and port) that recently completed a secsock
 * handshake: a non-blocking connect to them can return EINPROGRESS and
 * handshake in the background (issue 5), since no clear fallback will have
 * to replace the socket. */
void pre_discovery_note_secsock(const struct sockaddr_storage *peer);
bool pre_discovery_is_secsock(const struct sockaddr_storage *peer);

#endif
