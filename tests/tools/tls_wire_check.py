#!/usr/bin/env python3
"""tls_wire_check.py — check recorded wire bytes of one TCP connection.

    tls_wire_check.py [--c2s FILE] [--s2c FILE] [--alpn NAME | --no-alpn]
                      [--marker TEXT ...] [--expect-marker] [--allow-partial]

--c2s FILE   the client->server recording: must parse as TLS records (RFC 8446
             §5.1: type, legacy version, length <= 2^14 + 256), the first being
             a ClientHello (§4.1.2) that offers TLS 1.3 in supported_versions
             (§4.2.1) and, unless --no-alpn, ALPN NAME (RFC 7301; default
             secsock/1); after it only change_cipher_spec (20, the §D.4
             middlebox-compatibility record, at most once, before any
             application data) and application_data (23) records.
--s2c FILE   the server->client recording: TLS records, the first a
             ServerHello selecting TLS 1.3; afterwards only 20 (once) and 23.
--marker T   T must not occur in any given file (with --expect-marker: it must
             occur in at least one; the wire is then not checked as TLS).
--allow-partial  the last record of a file may be cut short (fault tests).
--resumed MODE   the handshake is a PSK resumption (RFC 8446 §4.2.11): the
             ClientHello offers pre_shared_key (41) and psk_key_exchange_modes
             (45, §4.2.9), the ServerHello selects pre_shared_key; MODE ke:
             the client offered psk_ke (0) and the ServerHello has no
             key_share (51): no (EC)DHE; MODE dhe: the ServerHello has one.

Prints one line per check ("ok - ..." / "not ok - ...") and exits 1 if any
failed.  Standard library only.
"""
import argparse
import struct
import sys

CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APPDATA = 20, 21, 22, 23
EXT_ALPN, EXT_SUPPORTED_VERSIONS = 16, 43
EXT_PSK, EXT_PSK_MODES, EXT_KEY_SHARE = 41, 45, 51
TLS13 = 0x0304
MAX_RECORD = 2**14 + 256

failures = 0


def check(cond, what):
    global failures
    print(("ok - " if cond else "not ok - ") + what)
    if not cond:
        failures += 1
    return cond


def records(data, allow_partial):
    """Split into (type, version, body) records; raise ValueError on bad framing."""
    out = []
    off = 0
    while off < len(data):
        if len(data) - off < 5:
            if allow_partial:
                break
            raise ValueError(f"{len(data) - off} stray bytes at offset {off} (not a record header)")
        typ, ver, ln = struct.unpack_from("!BHH", data, off)
        if typ not in (CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APPDATA):
            raise ValueError(f"bad content type {typ} at offset {off}")
        if ver not in (0x0301, 0x0302, 0x0303):
            raise ValueError(f"bad legacy_record_version {ver:#06x} at offset {off}")
        if ln > MAX_RECORD or ln == 0:
            raise ValueError(f"bad record length {ln} at offset {off}")
        if off + 5 + ln > len(data):
            if allow_partial:
                break
            raise ValueError(f"record at offset {off} cut short ({len(data) - off - 5} of {ln} bytes)")
        out.append((typ, ver, data[off + 5:off + 5 + ln]))
        off += 5 + ln
    return out


def parse_extensions(buf):
    exts = {}
    if len(buf) < 2:
        return exts
    (total,) = struct.unpack_from("!H", buf, 0)
    off, end = 2, 2 + total
    while off + 4 <= end and off + 4 <= len(buf):
        et, el = struct.unpack_from("!HH", buf, off)
        exts[et] = buf[off + 4:off + 4 + el]
        off += 4 + el
    return exts


def parse_client_hello(body):
    """body = handshake message(s) from the first record(s). Returns dict."""
    if len(body) < 4 or body[0] != 1:
        raise ValueError(f"first handshake message is type {body[0] if body else None}, not ClientHello (1)")
    ln = int.from_bytes(body[1:4], "big")
    ch = body[4:4 + ln]
    if len(ch) < ln:
        raise ValueError("ClientHello longer than the records carrying it")
    off = 2 + 32  # legacy_version, random
    sid_len = ch[off]
    off += 1 + sid_len
    (cs_len,) = struct.unpack_from("!H", ch, off)
    off += 2 + cs_len
    comp_len = ch[off]
    off += 1 + comp_len
    exts = parse_extensions(ch[off:])
    versions = []
    if EXT_SUPPORTED_VERSIONS in exts:
        sv = exts[EXT_SUPPORTED_VERSIONS]
        versions = [int.from_bytes(sv[1 + i:3 + i], "big") for i in range(0, sv[0], 2)]
    alpn = []
    if EXT_ALPN in exts:
        a = exts[EXT_ALPN]
        off2 = 2
        while off2 < len(a):
            n = a[off2]
            alpn.append(a[off2 + 1:off2 + 1 + n].decode("latin-1"))
            off2 += 1 + n
    modes = list(exts.get(EXT_PSK_MODES, b"")[1:])
    return {"versions": versions, "alpn": alpn, "exts": set(exts), "psk_modes": modes}


def parse_server_hello(body):
    if len(body) < 4 or body[0] != 2:
        raise ValueError(f"first handshake message is type {body[0] if body else None}, not ServerHello (2)")
    ln = int.from_bytes(body[1:4], "big")
    sh = body[4:4 + ln]
    off = 2 + 32
    sid_len = sh[off]
    off += 1 + sid_len + 2 + 1  # session id, cipher suite, compression
    exts = parse_extensions(sh[off:])
    sv = exts.get(EXT_SUPPORTED_VERSIONS, b"")
    return {"version": int.from_bytes(sv, "big") if len(sv) == 2 else None, "exts": set(exts)}


def handshake_bytes(recs):
    """Concatenate the leading handshake (22) records; return (bytes, index of first non-22)."""
    buf = b""
    i = 0
    while i < len(recs) and recs[i][0] == CT_HANDSHAKE:
        buf += recs[i][2]
        i += 1
    return buf, i


def check_tail(name, recs, start):
    ccs = 0
    seen_app = False
    bad = None
    for j in range(start, len(recs)):
        t = recs[j][0]
        if t == CT_CCS and not seen_app:
            ccs += 1
        elif t == CT_APPDATA:
            seen_app = True
        else:
            bad = (j, t)
            break
    check(bad is None and ccs <= 1,
          f"{name}: after the hello only application_data records"
          + (f" (record {bad[0]} has type {bad[1]})" if bad else f" ({len(recs) - start} records)"))
    check(seen_app, f"{name}: carries application_data records")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--c2s")
    ap.add_argument("--s2c")
    ap.add_argument("--alpn", default="secsock/1")
    ap.add_argument("--no-alpn", action="store_true")
    ap.add_argument("--marker", action="append", default=[])
    ap.add_argument("--expect-marker", action="store_true")
    ap.add_argument("--allow-partial", action="store_true")
    ap.add_argument("--resumed", choices=["ke", "dhe"])
    a = ap.parse_args()

    files = {}
    for name, path in (("c2s", a.c2s), ("s2c", a.s2c)):
        if path:
            try:
                with open(path, "rb") as f:
                    files[name] = f.read()
            except OSError as e:
                check(False, f"{name}: read {path}: {e}")
    if not files:
        print("tls_wire_check: give --c2s and/or --s2c", file=sys.stderr)
        return 2

    for m in a.marker:
        mb = m.encode()
        where = [n for n, d in files.items() if mb in d]
        if a.expect_marker:
            check(bool(where), f"marker '{m}' appears on the wire ({', '.join(where) or 'nowhere'})")
        else:
            check(not where, f"marker '{m}' never appears on the wire"
                  + (f" (found in {', '.join(where)})" if where else ""))
    if a.expect_marker:
        return 1 if failures else 0

    if "c2s" in files:
        d = files["c2s"]
        check(len(d) > 0, f"c2s: recording not empty ({len(d)} bytes)")
        try:
            recs = records(d, a.allow_partial)
            check(True, f"c2s: {len(recs)} well-formed TLS records")
            hs, i = handshake_bytes(recs)
            ch = parse_client_hello(hs)
            check(TLS13 in ch["versions"],
                  f"c2s: ClientHello offers TLS 1.3 (supported_versions {[hex(v) for v in ch['versions']]})")
            if not a.no_alpn:
                check(a.alpn in ch["alpn"], f"c2s: ClientHello offers ALPN {a.alpn} (ALPN {ch['alpn']})")
            if a.resumed:
                check(EXT_PSK in ch["exts"] and EXT_PSK_MODES in ch["exts"],
                      "c2s: ClientHello offers a PSK (pre_shared_key, psk_key_exchange_modes)")
            if a.resumed == "ke":
                check(0 in ch["psk_modes"], f"c2s: ClientHello offers psk_ke (modes {ch['psk_modes']})")
            check_tail("c2s", recs, i)
        except (ValueError, IndexError, struct.error) as e:
            check(False, f"c2s: parse as TLS: {e}")
    if "s2c" in files:
        d = files["s2c"]
        check(len(d) > 0, f"s2c: recording not empty ({len(d)} bytes)")
        try:
            recs = records(d, a.allow_partial)
            check(True, f"s2c: {len(recs)} well-formed TLS records")
            hs, i = handshake_bytes(recs)
            sh = parse_server_hello(hs)
            check(sh["version"] == TLS13, f"s2c: ServerHello selects TLS 1.3 ({sh['version']})")
            if a.resumed:
                check(EXT_PSK in sh["exts"], "s2c: ServerHello selects the offered PSK (pre_shared_key)")
                share = EXT_KEY_SHARE in sh["exts"]
                if a.resumed == "ke":
                    check(not share, "s2c: ServerHello has no key_share: psk_ke, no (EC)DHE")
                else:
                    check(share, "s2c: ServerHello has a key_share: psk_dhe_ke")
            check_tail("s2c", recs, i)
        except (ValueError, IndexError, struct.error) as e:
            check(False, f"s2c: parse as TLS: {e}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
