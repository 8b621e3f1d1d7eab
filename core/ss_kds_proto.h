/* ss_kds_proto.h — the secsock key distribution service protocol (issue
 * 15, "kds/"): one framed GetKey request, one framed answer carrying a
 * MS-GKDI 2.2.4 Group Key Envelope.  docs/group-keys.md ("Protocol")
 * documents every field, bound and error.
 *
 * Sans-I/O: the functions parse and build byte buffers only.  Parsers read
 * through the bounds-checked cursor (ss_cursor.h); integers are big-endian.
 *
 * Frame:  magic "SKDS" (4) | version 1 (1) | type (1) | length (4) | body
 *         length <= SS_KDS_BODY_MAX; nothing may follow the body.
 * GetKey request body (type 1):
 *         group_len (1, 1..64) | group (ASCII [A-Za-z0-9._-]) |
 *         L0 (4, int32) | L1 (4) | L2 (4) | flags (1, bit 0 = root key id
 *         follows, other bits 0) | [root key id (16, MS-DTYP binary)]
 * Answer body (type 2):
 *         status (1) | [when status = ok: envelope_len (4, 80..16384) |
 *         envelope (2.2.4, checked by ss_gkdi_env_parse)]
 */
#ifndef SS_KDS_PROTO_H
#define SS_KDS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "ss_gkdi.h"
#include "ss_status.h"

enum {
	SS_KDS_VERSION = 1,
	SS_KDS_HDR = 10,              /* magic, version, type, length */
	SS_KDS_BODY_MAX = 65536,      /* bound on any body (64 KiB) */
	SS_KDS_GROUP_MAX = 64,        /* bytes in a group name */
	SS_KDS_FRAME_MAX = SS_KDS_HDR + SS_KDS_BODY_MAX,
	SS_KDS_REQ_MAX = SS_KDS_HDR + 1 + SS_KDS_GROUP_MAX + 12 + 1 + 16,
};

typedef enum ss_kds_type {
	SS_KDS_T_GET_KEY = 1,
	SS_KDS_T_ANSWER = 2,
} ss_kds_type;

#define SS_KDS_FLAG_RKID 0x01u

/* Answer status codes (one byte on the wire; new codes only with a new
 * version). */
typedef enum ss_kds_code {
	SS_KDS_OK = 0,
	SS_KDS_NOT_MEMBER = 1,        /* the authenticated peer is not in the group */
	SS_KDS_UNKNOWN_GROUP = 2,
	SS_KDS_UNKNOWN_ROOT_KEY = 3,  /* named root key absent, or none effective yet */
	SS_KDS_TOO_NEW = 4,           /* requested GKID newer than the server's now */
	SS_KDS_MALFORMED = 5,         /* the request did not parse */
	SS_KDS_INTERNAL = 6,
	SS_KDS_CODE_COUNT_
} ss_kds_code;

typedef struct ss_kds_req {
	char group[SS_KDS_GROUP_MAX + 1];   /* NUL-terminated */
	ss_gkid gkid;                       /* (-1,-1,-1) = the latest key */
	int has_rkid;
	ss_guid rkid;
} ss_kds_req;

typedef struct ss_kds_answer {
	ss_kds_code code;
	const uint8_t *env;                 /* into the caller's buffer; NULL unless ok */
	size_t env_len;
} ss_kds_answer;

/* "ok", "not-member", ... (NULL for an unknown code). */
const char *ss_kds_code_name(ss_kds_code c);

/* Is buf[0..len) the start of a frame?  SS_OK with *type, the body and
 * *frame_len set when a whole frame is there; SS_INCOMPLETE_MESSAGE when
 * the bytes so far are a valid prefix; SS_DECODE_ERROR (with why) when
 * they can never be one (bad magic, version, type or length). */
ss_status ss_kds_frame(const uint8_t *buf, size_t len, ss_kds_type *type,
                       const uint8_t **body, size_t *body_len, size_t *frame_len,
                       char *why, size_t why_len);

/* Parse one whole GetKey frame: exactly len bytes. */
ss_status ss_kds_req_parse(const uint8_t *buf, size_t len, ss_kds_req *req,
                           char *why, size_t why_len);
/* Build one; SS_INVALID_TOKEN for a request the parser would refuse. */
ss_status ss_kds_req_encode(const ss_kds_req *req, uint8_t *out, size_t cap, size_t *out_len);

/* Parse one whole answer frame: exactly len bytes. */
ss_status ss_kds_answer_parse(const uint8_t *buf, size_t len, ss_kds_answer *ans,
                              char *why, size_t why_len);
/* Build one: env only with SS_KDS_OK (and then required). */
ss_status ss_kds_answer_encode(ss_kds_code code, const uint8_t *env, size_t env_len,
                               uint8_t *out, size_t cap, size_t *out_len);

#endif
