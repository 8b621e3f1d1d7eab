/* pre_discovery.h — the per-process negotiation-discovery cache
 * (ARCHITECTURE.md "Negotiation discovery"): peers recently found not to
 * speak secsock, so the next connection neither probes them (outbound,
 * keyed by address and port) nor waits server-first-wait for them
 * (inbound, keyed by address only); and the audit of every clear fallback.
 *
 * How long a peer stays "clear" depends on the evidence (policy keys
 * discovery-clear-ttl and discovery-unproven-ttl, secsock-policy(5)): a peer
 * that answered in clear proved it; a reset, an EOF or silence proves
 * nothing — an attacker on the path can cause them with one packet — so by
 * default they are not remembered and the next connection is probed again. */
#ifndef PRE_DISCOVERY_H
#define PRE_DISCOVERY_H

#include <stdbool.h>
#include <sys/socket.h>
#include "pol.h"

/* Positive entries ("speaks secsock") only let a non-blocking connect
 * handshake in the background; they never make anything clear. */
enum { PRE_DISCOVERY_SECSOCK_TTL_MS = 10 * 60 * 1000 };

/* Why a connection goes clear. */
enum pre_disc_evidence {
	PRE_DISC_CACHED = 0,   /* the cache said so: no new entry, the old one is not extended */
	PRE_DISC_UNPROVEN,     /* reset, EOF, no reply: remembered discovery-unproven-ttl */
	PRE_DISC_PROVEN        /* answered in clear (non-TLS bytes, TLS without secsock/1):
	                        * remembered discovery-clear-ttl, unless the peer recently
	                        * completed a secsock handshake (then as unproven) */
};

/* A connection goes clear: remember the peer as the evidence allows (TTLs
 * from s) and log the "clear" event ev (its dir, peer, rule and reason;
 * local: the local address) — audit (a fallback under `request`): at
 * notice, the default level, else at info.  A fallback to a peer known to
 * have completed a secsock handshake recently is also a "downgrade" event
 * at warn. */
struct pre_event;
void pre_discovery_clear(const struct sockaddr_storage *peer, bool with_port, const pol_settings *s,
                         int evidence, bool audit, const struct pre_event *ev, const char *local);
bool pre_discovery_is_clear(const struct sockaddr_storage *peer, bool with_port);
void pre_discovery_forget(const struct sockaddr_storage *peer, bool with_port);
/* Outbound peers (address and port) that recently completed a secsock
 * handshake: a non-blocking connect to them can return EINPROGRESS and
 * handshake in the background (issue 5), since no clear fallback will have
 * to replace the socket. */
void pre_discovery_note_secsock(const struct sockaddr_storage *peer);
bool pre_discovery_is_secsock(const struct sockaddr_storage *peer);
/* A background handshake with such a peer failed: it is not known to
 * speak secsock any more (pre_discovery_forget only drops "clear" entries). */
void pre_discovery_forget_secsock(const struct sockaddr_storage *peer);

#endif
