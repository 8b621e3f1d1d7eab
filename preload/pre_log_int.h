/* pre_log_int.h — the parts of the log module behind pre_log.c: the
 * structured sinks (pre_log_sink.c) and the per-peer rate limit
 * (pre_log_rate.c).  Nothing outside pre_log*.c includes this. */
#ifndef PRE_LOG_INT_H
#define PRE_LOG_INT_H

#include <stddef.h>
#include "pre_log.h"

/* What every structured line carries besides the event. */
struct pre_log_ctx {
	int level;
	long pid;
	const char *program;   /* may be NULL */
	const char *msg;       /* the human message, without "secsock[PID]: LEVEL: " */
};

extern const char *const pre_log_level_names[];

/* One JSON object and '\n' into buf (cap >= 256): always valid JSON, a
 * value that does not fit is cut at a character boundary.  Its length. */
size_t pre_log_json(char *buf, size_t cap, const struct pre_log_ctx *x, const struct pre_event *ev);
/* One datagram of the journal's native protocol to the socket at path.
 * 0 sent; -1 (errno) when there is no journal there. */
int pre_log_journal(const char *path, const struct pre_log_ctx *x, const struct pre_event *ev);

/* The rate limit.  SECSOCK_LOG_RATE's value (NULL: the default). */
void pre_log_rate_config(const char *v);
/* A suppressed count to report: event, peer address, level, how many. */
struct pre_log_supp {
	char event[16];
	char host[64];
	int level;
	unsigned long count;
};
enum { PRE_LOG_SUPP_MAX = 8 };
/* 1 when this event's line is to be written, 0 when it is suppressed
 * (counted).  out[*nout]: counts of windows that ended (or slots taken
 * over), to be reported before it. */
int pre_log_rate_admit(const struct pre_event *ev, int level, struct pre_log_supp *out, int *nout);
/* Writes one "suppressed K similar lines" line (pre_log.c). */
void pre_log_suppressed(const struct pre_log_supp *s);
/* The limit in words, for that line: "10 per 10 s". */
const char *pre_log_rate_words(void);

#endif
