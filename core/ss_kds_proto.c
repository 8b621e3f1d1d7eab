/* ss_kds_proto.c — parse and build the KDS protocol's frames (the layout
 * is in ss_kds_proto.h and docs/group-keys.md, "Protocol").  Every read of
 * peer bytes goes through ss_cursor.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ss_cursor.h"
#include "ss_kds_proto.h"

static const uint8_t magic[4] = { 'S', 'K', 'D', 'S' };

const char *ss_kds_code_name(ss_kds_code c)
{
	static const char *const names[SS_KDS_CODE_COUNT_] = {
		"ok", "not-member", "unknown-group", "unknown-root-key",
		"too-new", "malformed", "internal",
	};
	return (unsigned)c < SS_KDS_CODE_COUNT_ ? names[c] : NULL;
}

ss_status ss_kds_frame(const uint8_t *buf, size_t len, ss_kds_type *type,
                       const uint8_t **body, size_t *body_len, size_t *frame_len,
                       char *why, size_t why_len)
{
	ss_cur c = ss_cur_make(buf, len);
	uint32_t ver, t, n;
	size_t m = len < sizeof magic ? len : sizeof magic;

	/* refuse a wrong prefix as soon as it is seen, not after 10 bytes */
	if (m && memcmp(buf, magic, m) != 0)
		return ss_cur_fail(why, why_len, "bad magic (not a secsock KDS frame)");
	if (!ss_cur_skip(&c, sizeof magic))
		return SS_INCOMPLETE_MESSAGE;
	if (!ss_cur_uint(&c, 1, &ver))
		return SS_INCOMPLETE_MESSAGE;
	if (ver != SS_KDS_VERSION)
		return ss_cur_fail(why, why_len, "unsupported version %u (this is version %d)", ver,
		              SS_KDS_VERSION);
	if (!ss_cur_uint(&c, 1, &t))
		return SS_INCOMPLETE_MESSAGE;
	if (t != SS_KDS_T_GET_KEY && t != SS_KDS_T_ANSWER)
		return ss_cur_fail(why, why_len, "unknown frame type %u", t);
	if (!ss_cur_uint(&c, 4, &n))
		return SS_INCOMPLETE_MESSAGE;
	if (n > SS_KDS_BODY_MAX)
		return ss_cur_fail(why, why_len, "body length %u over %d", n, SS_KDS_BODY_MAX);
	if (ss_cur_left(&c) < n)
		return SS_INCOMPLETE_MESSAGE;
	*type = (ss_kds_type)t;
	*body = buf + c.off;
	*body_len = n;
	*frame_len = c.off + n;
	return SS_OK;
}

/* One whole frame of the expected type, exactly len bytes. */
static ss_status whole(const uint8_t *buf, size_t len, ss_kds_type want, ss_cur *body,
                       char *why, size_t why_len)
{
	ss_kds_type t;
	const uint8_t *b;
	size_t bl, fl;
	ss_status st = ss_kds_frame(buf, len, &t, &b, &bl, &fl, why, why_len);

	if (st == SS_INCOMPLETE_MESSAGE)
		return ss_cur_fail(why, why_len, "truncated frame (%zu bytes)", len);
	if (st != SS_OK)
		return st;
	if (t != want)
		return ss_cur_fail(why, why_len, "frame type %d where %d was expected", (int)t, (int)want);
	if (fl != len)
		return ss_cur_fail(why, why_len, "%zu bytes after the frame", len - fl);
	*body = ss_cur_make(b, bl);
	return SS_OK;
}

static int group_char_ok(uint8_t ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '-';
}

static int group_ok(const uint8_t *p, size_t n)
{
	if (n < 1 || n > SS_KDS_GROUP_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!group_char_ok(p[i]))
			return 0;
	return 1;
}

ss_status ss_kds_req_parse(const uint8_t *buf, size_t len, ss_kds_req *req,
                           char *why, size_t why_len)
{
	ss_cur c, g;
	uint32_t l[3], flags;
	ss_status st = whole(buf, len, SS_KDS_T_GET_KEY, &c, why, why_len);

	memset(req, 0, sizeof *req);
	if (st != SS_OK)
		return st;
	if (!ss_cur_vec(&c, 1, &g))
		return ss_cur_fail(why, why_len, "group name runs past the body");
	if (!group_ok(g.buf, g.len))
		return ss_cur_fail(why, why_len, "group name must be 1..%d of [A-Za-z0-9._-]",
		              SS_KDS_GROUP_MAX);
	memcpy(req->group, g.buf, g.len);
	req->group[g.len] = '\0';
	for (int i = 0; i < 3; i++)
		if (!ss_cur_uint(&c, 4, &l[i]))
			return ss_cur_fail(why, why_len, "GKID runs past the body");
	/* int32 two's complement on the wire */
	req->gkid = (ss_gkid){ (int32_t)l[0], (int32_t)l[1], (int32_t)l[2] };
	if (!ss_gkid_valid(req->gkid))
		return ss_cur_fail(why, why_len, "invalid GKID %d,%d,%d", (int)req->gkid.l0,
		              (int)req->gkid.l1, (int)req->gkid.l2);
	if (!ss_cur_uint(&c, 1, &flags))
		return ss_cur_fail(why, why_len, "flags missing");
	if (flags & ~SS_KDS_FLAG_RKID)
		return ss_cur_fail(why, why_len, "unknown flags 0x%02x", flags);
	if (flags & SS_KDS_FLAG_RKID) {
		if (ss_cur_left(&c) < sizeof req->rkid.b)
			return ss_cur_fail(why, why_len, "root key id runs past the body");
		memcpy(req->rkid.b, c.buf + c.off, sizeof req->rkid.b);
		ss_cur_skip(&c, sizeof req->rkid.b);
		req->has_rkid = 1;
	}
	if (ss_cur_left(&c) != 0)
		return ss_cur_fail(why, why_len, "%zu bytes after the request", ss_cur_left(&c));
	return SS_OK;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_hdr(uint8_t *out, ss_kds_type t, size_t body_len)
{
	memcpy(out, magic, sizeof magic);
	out[4] = SS_KDS_VERSION;
	out[5] = (uint8_t)t;
	put32(out + 6, (uint32_t)body_len);
}

ss_status ss_kds_req_encode(const ss_kds_req *req, uint8_t *out, size_t cap, size_t *out_len)
{
	size_t gl = strnlen(req->group, sizeof req->group), body, off;

	if (!group_ok((const uint8_t *)req->group, gl) || !ss_gkid_valid(req->gkid))
		return SS_INVALID_TOKEN;
	body = 1 + gl + 12 + 1 + (req->has_rkid ? 16 : 0);
	if (cap < SS_KDS_HDR + body)
		return SS_BUFFER_TOO_SMALL;
	put_hdr(out, SS_KDS_T_GET_KEY, body);
	off = SS_KDS_HDR;
	out[off++] = (uint8_t)gl;
	memcpy(out + off, req->group, gl);
	off += gl;
	put32(out + off, (uint32_t)req->gkid.l0);
	put32(out + off + 4, (uint32_t)req->gkid.l1);
	put32(out + off + 8, (uint32_t)req->gkid.l2);
	off += 12;
	out[off++] = req->has_rkid ? SS_KDS_FLAG_RKID : 0;
	if (req->has_rkid) {
		memcpy(out + off, req->rkid.b, 16);
		off += 16;
	}
	*out_len = off;
	return SS_OK;
}

ss_status ss_kds_answer_parse(const uint8_t *buf, size_t len, ss_kds_answer *ans,
                              char *why, size_t why_len)
{
	ss_cur c, e;
	uint32_t code;
	ss_gkdi_env env;
	ss_status st = whole(buf, len, SS_KDS_T_ANSWER, &c, why, why_len);

	memset(ans, 0, sizeof *ans);
	if (st != SS_OK)
		return st;
	if (!ss_cur_uint(&c, 1, &code))
		return ss_cur_fail(why, why_len, "status missing");
	if (code >= SS_KDS_CODE_COUNT_)
		return ss_cur_fail(why, why_len, "unknown status %u", code);
	ans->code = (ss_kds_code)code;
	if (code == SS_KDS_OK) {
		if (!ss_cur_vec(&c, 4, &e))
			return ss_cur_fail(why, why_len, "envelope runs past the body");
		if (e.len < SS_GKDI_ENV_HDR || e.len > SS_GKDI_ENV_MAX)
			return ss_cur_fail(why, why_len, "envelope length %zu outside %d..%d", e.len,
			              SS_GKDI_ENV_HDR, SS_GKDI_ENV_MAX);
		if (ss_gkdi_env_parse(e.buf, e.len, &env, NULL, 0) != SS_OK)
			return ss_cur_fail(why, why_len, "the envelope does not parse (MS-GKDI 2.2.4)");
		ans->env = e.buf;
		ans->env_len = e.len;
	}
	if (ss_cur_left(&c) != 0)
		return ss_cur_fail(why, why_len, "%zu bytes after the answer", ss_cur_left(&c));
	return SS_OK;
}

ss_status ss_kds_answer_encode(ss_kds_code code, const uint8_t *env, size_t env_len,
                               uint8_t *out, size_t cap, size_t *out_len)
{
	size_t body = 1 + (code == SS_KDS_OK ? 4 + env_len : 0);

	if ((unsigned)code >= SS_KDS_CODE_COUNT_ || (code == SS_KDS_OK) != (env != NULL) ||
	    (env && (env_len < SS_GKDI_ENV_HDR || env_len > SS_GKDI_ENV_MAX)))
		return SS_INVALID_TOKEN;
	if (cap < SS_KDS_HDR + body)
		return SS_BUFFER_TOO_SMALL;
	put_hdr(out, SS_KDS_T_ANSWER, body);
	out[SS_KDS_HDR] = (uint8_t)code;
	if (env) {
		put32(out + SS_KDS_HDR + 1, (uint32_t)env_len);
		memcpy(out + SS_KDS_HDR + 5, env, env_len);
	}
	*out_len = SS_KDS_HDR + body;
	return SS_OK;
}
