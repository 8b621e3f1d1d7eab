/* pre_kds.h — auth = group:NAME from a key distribution service: the I/O
 * half of core's KDS key source (core/ss_group.h ss_group_new_kds). */
#ifndef PRE_KDS_H
#define PRE_KDS_H

#include <stddef.h>
#include <stdint.h>
#include "pol.h"

/* core's fetch (ss_group_fetch_fn): the services of src in order, each on
 * a new governed connection that must prove a pinned KDS host key; 0 with
 * one answer frame, -1 when none answered (each failure logged). */
int pre_kds_fetch(const char *src, const uint8_t *req, size_t req_len, uint8_t *ans, size_t cap,
                  size_t *ans_len);
/* The src string for a rule's group-kds and group-kds-identity. */
int pre_kds_src(const pol_settings *s, char *out, size_t cap);
/* The persistent cache file of a group, DIR/gkdi-NAME.cache: DIR is
 * $XDG_CACHE_HOME/secsock when that is set (absolute), else
 * /var/cache/secsock for root (one cache per system), else
 * ~/.cache/secsock; directories made 0700 and checked to be this user's;
 * -1 when there is no such place. */
int pre_kds_cache_file(const char *group, char *out, size_t cap);

#endif
