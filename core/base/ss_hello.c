/* ss_hello.c — "is this a secsock ClientHello?" from a peeked prefix
 * (ARCHITECTURE.md "Negotiation discovery", server side).
 *
 * A pure function over untrusted bytes: no OpenSSL, no allocation, no side
 * effects.  The ClientHello (RFC 8446 §4.1.2) is read as a handshake byte
 * stream that may be fragmented over several handshake records (§5.1), so
 * every read goes through hs_stream, which crosses record headers and checks
 * them, on top of the bounds-checked cursor.  Running out of bytes anywhere
 * means NEED_MORE; anything a TLS client could not have sent means OTHER.
 */
#include "ss_ctx.h"
#include "ss_cursor.h"
#include "ss_rec.h"

enum hello_limits {
	HS_CLIENT_HELLO = 1,                 /* HandshakeType client_hello */
	EXT_ALPN = 16,                       /* RFC 7301 */
	EXT_SUPPORTED_VERSIONS = 43,         /* RFC 8446 §4.2.1 */
	TLS13_VERSION = 0x0304,
	CH_MIN_LEN = 2 + 32 + 1 + 2 + 2 + 1 + 1,   /* version, random, sid, one suite, one method */
	CH_MAX_LEN = 1 << 17,                /* far above any real ClientHello */
	SESSION_ID_MAX = 32
};

typedef enum hs_rc { HS_OK = 0, HS_SHORT, HS_BAD } hs_rc;

typedef struct hs_stream {
	ss_cur in;          /* the whole peeked prefix */
	size_t rec_left;    /* fragment bytes left in the current record */
	size_t pos;         /* handshake-stream bytes consumed */
} hs_stream;

/* Enter the next record: it must be a handshake record of a TLS version
 * with a plaintext length of 1..2^14 (§5.1: no zero-length handshake
 * fragments). */
static hs_rc hs_next_record(hs_stream *s)
{
	uint32_t type, major, minor, len;

	if (!ss_cur_uint(&s->in, 1, &type))
		return HS_SHORT;
	if (type != SS_CT_HANDSHAKE)
		return HS_BAD;
	if (!ss_cur_uint(&s->in, 1, &major))
		return HS_SHORT;
	if (major != 3)
		return HS_BAD;
	if (!ss_cur_uint(&s->in, 1, &minor))
		return HS_SHORT;
	if (minor > 4)
		return HS_BAD;
	if (!ss_cur_uint(&s->in, 2, &len))
		return HS_SHORT;
	if (len == 0 || len > SS_REC_MAX_PLAINTEXT)
		return HS_BAD;
	s->rec_left = len;
	return HS_OK;
}

/* Skip n handshake bytes, across records. */
static hs_rc hs_skip(hs_stream *s, size_t n)
{
	while (n > 0) {
		size_t chunk;
		if (s->rec_left == 0) {
			hs_rc rc = hs_next_record(s);
			if (rc != HS_OK)
				return rc;
		}
		chunk = n < s->rec_left ? n : s->rec_left;
		if (ss_cur_left(&s->in) < chunk)
			chunk = ss_cur_left(&s->in);
		if (chunk == 0)
			return HS_SHORT;
		ss_cur_skip(&s->in, chunk);
		s->rec_left -= chunk;
		s->pos += chunk;
		n -= chunk;
	}
	return HS_OK;
}

/* Read an n-byte big-endian integer (n <= 4), across records. */
static hs_rc hs_uint(hs_stream *s, size_t n, uint32_t *v)
{
	uint32_t x = 0, b;

	for (size_t i = 0; i < n; i++) {
		if (s->rec_left == 0) {
			hs_rc rc = hs_next_record(s);
			if (rc != HS_OK)
				return rc;
		}
		if (!ss_cur_uint(&s->in, 1, &b))
			return HS_SHORT;
		s->rec_left--;
		s->pos++;
		x = (x << 8) | b;
	}
	*v = x;
	return HS_OK;
}

#define TRY(expr) do { hs_rc rc_ = (expr); if (rc_ != HS_OK) return rc_; } while (0)

/* ALPN extension body (RFC 7301 §3.1): ProtocolNameList. */
static hs_rc parse_alpn(hs_stream *s, size_t elen, int *secsock)
{
	static const char want[] = SS_ALPN;
	uint32_t list_len, name_len, b;
	size_t end;

	TRY(hs_uint(s, 2, &list_len));
	if (list_len + 2 != elen || list_len < 2)
		return HS_BAD;
	end = s->pos + list_len;
	while (s->pos < end) {
		int match;
		TRY(hs_uint(s, 1, &name_len));
		if (name_len == 0 || s->pos + name_len > end)
			return HS_BAD;
		match = name_len == sizeof want - 1;
		for (uint32_t i = 0; i < name_len; i++) {
			TRY(hs_uint(s, 1, &b));
			if (match && b != (uint8_t)want[i])
				match = 0;
		}
		if (match)
			*secsock = 1;
	}
	return HS_OK;
}

/* supported_versions in a ClientHello (RFC 8446 §4.2.1): versions<2..254>. */
static hs_rc parse_versions(hs_stream *s, size_t elen, int *tls13)
{
	uint32_t len, v;

	TRY(hs_uint(s, 1, &len));
	if (len + 1 != elen || len < 2 || len % 2 != 0)
		return HS_BAD;
	for (uint32_t i = 0; i < len / 2; i++) {
		TRY(hs_uint(s, 2, &v));
		if (v == TLS13_VERSION)
			*tls13 = 1;
	}
	return HS_OK;
}

static hs_rc parse_client_hello(hs_stream *s, int *tls13, int *secsock)
{
	uint32_t type, len, version, n, etype, elen;
	size_t end, ext_end;
	int seen_alpn = 0, seen_versions = 0;

	TRY(hs_uint(s, 1, &type));
	if (type != HS_CLIENT_HELLO)
		return HS_BAD;
	TRY(hs_uint(s, 3, &len));
	if (len < CH_MIN_LEN || len > CH_MAX_LEN)
		return HS_BAD;
	end = s->pos + len;

	TRY(hs_uint(s, 2, &version));              /* legacy_version */
	if ((version >> 8) != 3)
		return HS_BAD;
	TRY(hs_skip(s, 32));                       /* random */
	TRY(hs_uint(s, 1, &n));                    /* legacy_session_id<0..32> */
	if (n > SESSION_ID_MAX)
		return HS_BAD;
	TRY(hs_skip(s, n));
	TRY(hs_uint(s, 2, &n));                    /* cipher_suites<2..2^16-2> */
	if (n < 2 || n % 2 != 0)
		return HS_BAD;
	TRY(hs_skip(s, n));
	TRY(hs_uint(s, 1, &n));                    /* legacy_compression_methods<1..2^8-1> */
	if (n < 1)
		return HS_BAD;
	TRY(hs_skip(s, n));
	if (s->pos > end)
		return HS_BAD;
	if (s->pos == end)
		return HS_OK;                          /* no extensions: an old TLS client */

	TRY(hs_uint(s, 2, &n));                    /* extensions<8..2^16-1> */
	ext_end = s->pos + n;
	if (ext_end != end)
		return HS_BAD;
	while (s->pos < ext_end) {
		size_t body;
		TRY(hs_uint(s, 2, &etype));
		TRY(hs_uint(s, 2, &elen));
		body = s->pos;
		if (body + elen > ext_end)
			return HS_BAD;
		if (etype == EXT_ALPN) {
			if (seen_alpn++)
				return HS_BAD;   /* §4.2: no duplicate extensions */
			TRY(parse_alpn(s, elen, secsock));
		} else if (etype == EXT_SUPPORTED_VERSIONS) {
			if (seen_versions++)
				return HS_BAD;
			TRY(parse_versions(s, elen, tls13));
		} else {
			TRY(hs_skip(s, elen));
		}
		if (s->pos != body + elen)
			return HS_BAD;
	}
	return HS_OK;
}

ss_hello_verdict ss_hello_classify(const uint8_t *in, size_t n)
{
	hs_stream s = { ss_cur_make(in, n), 0, 0 };
	int tls13 = 0, secsock = 0;

	switch (parse_client_hello(&s, &tls13, &secsock)) {
	case HS_SHORT:
		return SS_HELLO_NEED_MORE;
	case HS_BAD:
		return SS_HELLO_OTHER;
	case HS_OK:
	default:
		return tls13 && secsock ? SS_HELLO_SECSOCK : SS_HELLO_TLS;
	}
}
