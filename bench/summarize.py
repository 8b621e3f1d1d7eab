#!/usr/bin/env python3
"""bench/summarize.py — raw measurements → bench/results/latest.md + plots.

Input: the raw file written by bench/run.sh, one measurement per line:
    section <TAB> case <TAB> contender <TAB> metric <TAB> value
where value is a number or "NA:<reason>" (not measured), and a meta file of
key <TAB> value lines.  Output: latest.md (machine, versions, load, the
targets with their measured figures, one table per comparison), gnuplot
scripts + data for the PNGs (run.sh runs gnuplot), and the results block of
bench/README.md.  Only the standard library, so it runs wherever python3 is.
"""
import argparse
import math
import os
import re
import statistics
from collections import OrderedDict

# section: (title, what the rows are, {metric: (label, better)}, baseline contender)
SECTIONS = OrderedDict([
    ("bulk", ("Bulk throughput — iperf3 over loopback",
              "Receiver-side throughput. secsock rows: both iperf3 ends under the preload, "
              "one cipher each. *model limit* = 1/(1/plain + 1/AEAD) from this run's "
              "plain median and `openssl speed -evp` (below): what one core can do when "
              "it must both move and encrypt every byte.",
              OrderedDict([("gbps", ("Gbit/s", "higher"))]), "plain")),
    ("aead", ("AEAD speed — `openssl speed -evp CIPHER -bytes 16384`, one core",
              "Measured in every repetition of the bulk comparison.",
              OrderedDict([("gbps", ("Gbit/s", "higher"))]), None)),
    ("redis", ("Request/response — redis-benchmark -c 50",
               "secsock: redis-server and redis-benchmark both under the preload. "
               "stunnel: client+server pair in front of the plain server. "
               "redis-tls: redis' own `--tls-port`, TLS 1.3, same Ed25519 certificate.",
               OrderedDict([("rps", ("req/s", "higher")), ("p50_ms", ("p50 ms", "lower"))]),
               "plain")),
    ("connect", ("Connection set-up — connect → 1-byte echo → close",
                 "One connection at a time. CPU = client + server CPU per connection. "
                 "openssl-s_time: `s_time -new` against `s_server -tls1_3 -num_tickets 0` "
                 "with an Ed25519 certificate (the key type secsock's anonymous mode uses), "
                 "no data exchanged; openssl-s_time-reuse: `s_time -reuse` against an s_server that sends "
                 "tickets (resumed, PSK with ECDHE). secsock-anon is a full handshake every connection "
                 "(session-lifetime = 0), secsock-anon-resumed resumes in one client process; the -procs "
                 "rows make each connection from a new process (fork + exec), resuming through the "
                 "per-user store.",
                 OrderedDict([("rate", ("conn/s", "higher")),
                              ("cpu_us", ("CPU µs/conn", "lower"))]), "plain")),
    ("latency", ("Latency — 64-byte ping-pong on one connection",
                 "TCP_NODELAY; round-trip times in µs; handshake outside the timed loop.",
                 OrderedDict([("p50_us", ("p50 µs", "lower")), ("p99_us", ("p99 µs", "lower")),
                              ("mean_us", ("mean µs", "lower"))]), "plain")),
    ("memory", ("Memory per idle connection",
                "Bytes per established idle connection, (after − before)/N; 16 worker "
                "threads per side open them, each after one warm-up connection of its own "
                "(one-time and per-thread costs are not counted). Both ends sit idle for IDLE_SETTLE_S "
                "(3 s) before each snapshot, past the preload's idle trim (SECSOCK_IDLE_TRIM_MS, 1 s), "
                "which frees an idle connection's cipher contexts. heap = malloc in use (mallinfo2 uordblks+hblkhd); "
                "RSS also counts pages mapped outside malloc (e.g. sodium_malloc).",
                OrderedDict([("heap_server_B", ("heap B, server", "lower")),
                             ("heap_client_B", ("heap B, client", "lower")),
                             ("rss_server_B", ("RSS B, server", "lower")),
                             ("rss_client_B", ("RSS B, client", "lower"))]), "plain")),
    ("kds", ("Group keys — the KDS and group handshakes (issue 15, `bench/run.sh --only kds`)",
             "GetKey requests: `secsock kds get-key --repeat N` against `secsock kds serve`, both under "
             "the preload; one-connection = N requests on one secured host-key connection, "
             "new-connections = a host-key handshake per request (a member with a cold cache); "
             "per core = requests / (client + KDS CPU seconds). Group handshake: connrate as in the "
             "connection set-up table, secsock-group = auth group:bench with keys from that KDS, "
             "cache warmed (no KDS request while measured), every connection proving the group key "
             "(external PSK with ECDHE); secsock-anon = anonymous, session-lifetime = 0, same run.",
             OrderedDict([("rate", ("req or conn/s", "higher")), ("per_core", ("req/s per core", "higher")),
                          ("cpu_us", ("CPU µs/conn", "lower"))]), "secsock-anon")),
    ("startup", ("Start-up — hyperfine, `env [LD_PRELOAD=libsecsock.so] /bin/true`",
                 "Median of each hyperfine run (no shell).",
                 OrderedDict([("ms", ("ms", "lower"))]), "/bin/true")),
    ("bypass", ("Bypass overhead — redis-benchmark -c 50 with a bypass-everything policy",
                "preload-bypass: server and benchmark under the preload, one rule "
                "`port = any` / `action = bypass`, default log level. req/s: server on "
                "CPU 0, benchmark on CPU 1, alternated repetitions (wall clock, noisy "
                "here). M instr: instructions of redis-server's event loop under callgrind "
                "serving the same fixed run (start-up not counted; about ±1% from redis' "
                "random hash seed and timer-driven cron). instr, %: instructions inside "
                "libsecsock.so per request and as a share of the event loop "
                "(deterministic). Ratios are of each row's own figure.",
                OrderedDict([("rps", ("req/s", "higher")), ("p50_ms", ("p50 ms", "lower")),
                             ("minstr", ("M instr", "lower")), ("instr", ("instr", "lower")),
                             ("pct", ("%", "lower"))]),
                "no-preload")),
    ("policy", ("Policy lookup — pol_decide with N rules",
                "Worst cases of a first-match list: no rule matches, or only the last one.",
                OrderedDict([("ns", ("ns/decision", "lower"))]), None)),
])

# Sections whose cases have different primary figures (see section_table).
PER_CASE_PRIMARY = {"bypass"}

# Sections whose baseline is only there for reference (a ratio to ~0 bytes
# means nothing).
NO_RATIO = {"memory"}

META_ORDER = [("mode", "Run"), ("date", "Date"), ("commit", "Commit"), ("cpu", "CPU"),
              ("cores", "Cores"), ("memory", "Memory"), ("kernel", "Kernel"),
              ("openssl", "OpenSSL"), ("iperf3", "iperf3"), ("redis", "redis"),
              ("stunnel", "stunnel"), ("spiped", "spiped"), ("socat", "socat"),
              ("hyperfine", "hyperfine"), ("secsock", "secsock preload"),
              ("repetitions", "Repetitions"), ("durations", "Run lengths"),
              ("fd_limit", "fd limit"), ("load_start", "Load average at start"),
              ("load_end", "Load average at end"), ("elapsed", "Elapsed")]


class Cell:
    """All repetitions of one (section, case, contender, metric)."""

    def __init__(self):
        self.values = []
        self.na = []

    @property
    def median(self):
        return statistics.median(self.values) if self.values else None


# Row order in the tables: the baselines first, then secsock, then the others.
ORDER = ["plain", "no-preload", "/bin/true", "preload", "preload-bypass", "secsock",
         "secsock-anon", "secsock-anon-resumed", "secsock-psk", "plain-procs", "secsock-anon-procs",
         "secsock-anon-resumed-procs", "secsock-aes-128-gcm", "secsock-aes-256-gcm",
         "secsock-chacha20-poly1305", "redis-tls", "openssl-s_time", "openssl-s_time-reuse", "stunnel", "spiped",
         "socat-openssl", "10 rules", "100 rules", "1000 rules"]


def order_key(ct):
    return (ORDER.index(ct) if ct in ORDER else len(ORDER), ct)


def sort_contenders(data):
    for cases in data.values():
        for case in list(cases):
            cts = cases[case]
            cases[case] = OrderedDict(sorted(cts.items(), key=lambda kv: order_key(kv[0])))
        if "all" in cases:   # "not measured at all" rows go last
            cases.move_to_end("all")


def load_raw(path):
    data = OrderedDict()   # section -> case -> contender -> metric -> Cell
    for line in open(path, encoding="utf-8"):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 5:
            continue
        sec, case, ct, metric, value = parts
        cell = data.setdefault(sec, OrderedDict()).setdefault(case, OrderedDict()) \
                   .setdefault(ct, OrderedDict()).setdefault(metric, Cell())
        if value.startswith("NA:"):
            cell.na.append(value[3:])
        else:
            try:
                v = float(value)
            except ValueError:
                cell.na.append("unparsable value " + value)
                continue
            if math.isfinite(v):
                cell.values.append(v)
    sort_contenders(data)
    return data


def load_meta(path):
    meta = OrderedDict()
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            k, _, v = line.rstrip("\n").partition("\t")
            meta[k] = v
    return meta


def fmt(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def fmt_cell(cell):
    if cell is None or not cell.values:
        return "—"
    s = fmt(cell.median)
    if len(cell.values) > 1:
        s += f" ({fmt(min(cell.values))}–{fmt(max(cell.values))})"
    return s


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}×"


def na_reason(contender_cells):
    for cell in contender_cells.values():
        if cell.na and not cell.values:
            return cell.na[0]
    return None


def aead_gbps(data):
    """cipher → median Gbit/s of openssl speed."""
    out = {}
    for case in data.get("aead", {}).values():
        for ct, metrics in case.items():
            if "gbps" in metrics and metrics["gbps"].values:
                out[ct] = metrics["gbps"].median
    return out


def model_limit(plain, aead):
    if not plain or not aead:
        return None
    return 1.0 / (1.0 / plain + 1.0 / aead)


def cell_med(data, sec, case, ct, metric):
    try:
        return data[sec][case][ct][metric].median
    except KeyError:
        return None


def section_table(data, sec):
    title, note, metrics, base = SECTIONS[sec]
    cases = data.get(sec)
    if not cases:
        return []
    out = [f"### {title}", "", note, ""]
    primary = next(iter(metrics))
    head = ["case", "contender"] + [metrics[m][0] + " median (min–max)" for m in metrics]
    show_ratio = base and sec not in NO_RATIO
    # A section whose cases measure different things (bypass: req/s, then
    # instruction counts) takes each row's ratio from its first figure.
    per_case = sec in PER_CASE_PRIMARY
    if show_ratio:
        head.append(f"vs {base}" if per_case else f"{metrics[primary][0]} vs {base}")
    extra_bulk = sec == "bulk"
    if extra_bulk:
        head.append("of model limit")
    head.append("n")
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    aead = aead_gbps(data) if extra_bulk else {}
    table_primary = primary
    for case, cts in cases.items():
        primary = table_primary
        if per_case:
            primary = next((m for m in metrics
                            if any(c.get(m) and c[m].values for c in cts.values())), table_primary)
        base_med = cell_med(data, sec, case, base, primary) if base else None
        for ct, cells in cts.items():
            reason = na_reason(cells)
            if reason is not None:
                row = [case, ct, f"not measured: {reason}"] + [""] * (len(head) - 3)
                out.append("| " + " | ".join(row) + " |")
                continue
            row = [case, ct] + [fmt_cell(cells.get(m)) for m in metrics]
            pc = cells.get(primary)
            if show_ratio:
                row.append(fmt_ratio(ratio(pc.median if pc else None, base_med)))
            if extra_bulk:
                lim = None
                if ct.startswith("secsock-"):
                    lim = model_limit(base_med, aead.get(ct[len("secsock-"):]))
                r = ratio(pc.median if pc else None, lim)
                row.append("—" if r is None else f"{r * 100:.0f}%")
            n = len(pc.values) if pc else 0
            failed = sum(len(c.na) for c in cells.values())
            row.append(str(n) + (f" ({failed} failed)" if failed else ""))
            out.append("| " + " | ".join(row) + " |")
        if extra_bulk and base_med:
            for c, g in aead.items():
                lim = model_limit(base_med, g)
                row = [case, f"*model limit ({c})*", fmt(lim), fmt_ratio(ratio(lim, base_med)),
                       "100%", ""]
                out.append("| " + " | ".join(row) + " |")
    out.append("")
    return out


def targets(data):
    """[(target, measured, verdict)] — the issue's targets, from this run."""
    rows = []

    def verdict(ok):
        return "met" if ok else "**not met**"

    # bulk: secsock (aes-128-gcm) ≥ 90% of the model limit
    aead = aead_gbps(data)
    figs, oks, missing = [], [], None
    for case in data.get("bulk", {}):
        plain = cell_med(data, "bulk", case, "plain", "gbps")
        ss = cell_med(data, "bulk", case, "secsock-aes-128-gcm", "gbps")
        lim = model_limit(plain, aead.get("aes-128-gcm"))
        if ss is None or lim is None:
            cells = data["bulk"][case].get("secsock-aes-128-gcm")
            if cells and na_reason(cells):
                missing = na_reason(cells)
            continue
        figs.append(f"{case}: {ss / lim * 100:.0f}% ({fmt(ss)} of {fmt(lim)} Gbit/s)")
        oks.append(ss / lim >= 0.90)
    rows.append(("bulk ≥ 90% of model limit (aes-128-gcm)",
                 "; ".join(figs) if figs else f"not measured: {missing or 'no data'}",
                 verdict(all(oks)) if figs else "—"))

    # redis: ≥ 85% of plain, and above redis --tls
    f1, f2, ok1, ok2, missing = [], [], [], [], None
    for case, cts in data.get("redis", {}).items():
        plain = cell_med(data, "redis", case, "plain", "rps")
        ss = cell_med(data, "redis", case, "secsock", "rps")
        tls = cell_med(data, "redis", case, "redis-tls", "rps")
        if ss is None:
            if "secsock" in cts and na_reason(cts["secsock"]):
                missing = na_reason(cts["secsock"])
            continue
        if plain:
            f1.append(f"{case} {ss / plain * 100:.0f}%")
            ok1.append(ss / plain >= 0.85)
        if tls:
            f2.append(f"{case} {ss / tls:.2f}×")
            ok2.append(ss > tls)
    if not missing and "redis" in data and "all" in data["redis"]:
        missing = na_reason(data["redis"]["all"].get("secsock", {}))
    rows.append(("redis ≥ 85% of plain", "; ".join(f1) if f1 else f"not measured: {missing or 'no data'}",
                 verdict(all(ok1)) if f1 else "—"))
    rows.append(("redis above redis --tls", "; ".join(f2) if f2 else f"not measured: {missing or 'no data'}",
                 verdict(all(ok2)) if f2 else "—"))

    # handshake CPU within 10% of s_time
    case = "connect → 1-byte echo → close"
    ss = cell_med(data, "connect", case, "secsock-anon", "cpu_us")
    st = cell_med(data, "connect", case, "openssl-s_time", "cpu_us")
    if ss is not None and st:
        rows.append(("full-handshake CPU ≤ 1.10× openssl s_time",
                     f"secsock {fmt(ss)} µs vs s_time {fmt(st)} µs per connection = {ss / st:.2f}×",
                     verdict(ss / st <= 1.10)))
    else:
        cells = data.get("connect", {}).get(case, {}).get("secsock-anon", {})
        rows.append(("full-handshake CPU ≤ 1.10× openssl s_time",
                     f"not measured: {na_reason(cells) or 'no data'}" if cells or ss is None
                     else "s_time not measured", "—"))

    # issue 14 must-show 4: resumption pays, as a rate ratio in one run —
    # in one client process, and across client processes (the per-user store)
    for sfx, what in (("", "in-process"), ("-procs", "a process per connection")):
        label = f"resumed ≥ 3× full-handshake rate, {what} (issue 14)"
        full = cell_med(data, "connect", case, "secsock-anon" + sfx, "rate")
        res = cell_med(data, "connect", case, "secsock-anon-resumed" + sfx, "rate")
        if full and res is not None:
            fc = cell_med(data, "connect", case, "secsock-anon" + sfx, "cpu_us")
            rc = cell_med(data, "connect", case, "secsock-anon-resumed" + sfx, "cpu_us")
            cpu = f"; CPU {fmt(rc)} vs {fmt(fc)} µs" if fc and rc else ""
            rows.append((label, f"resumed {fmt(res)} vs full {fmt(full)} conn/s = {res / full:.2f}×{cpu}",
                         verdict(res / full >= 3.0)))
        else:
            rows.append((label, "not measured", "—"))

    # issue 14: redis GET -c 50 ≥ 90% of plain, -P 16 ≥ 80%
    for cs, lim in (("GET", 0.90), ("GET -P 16", 0.80)):
        plain = cell_med(data, "redis", cs, "plain", "rps")
        ss = cell_med(data, "redis", cs, "secsock", "rps")
        name = f"redis {cs} -c 50 ≥ {lim * 100:.0f}% of plain (issue 14)"
        if plain and ss is not None:
            rows.append((name, f"{fmt(ss)} vs {fmt(plain)} req/s = {ss / plain * 100:.0f}%",
                         verdict(ss / plain >= lim)))
        else:
            rows.append((name, "not measured", "—"))

    # heap per idle connection
    mem = data.get("memory", {})
    figs, worst, reason = [], None, None
    for case, cts in mem.items():
        cells = cts.get("secsock")
        if not cells:
            continue
        if na_reason(cells):
            reason = na_reason(cells)
            continue
        for side in ("server", "client"):
            v = cell_med(data, "memory", case, "secsock", f"heap_{side}_B")
            p = cell_med(data, "memory", case, "plain", f"heap_{side}_B") or 0.0
            if v is not None:
                figs.append(f"{side} {fmt(v)} B (plain {fmt(p)} B)")
                worst = max(worst or 0.0, v - p)
    rows.append(("≤ 1 KiB heap per idle secured connection",
                 "; ".join(figs) if figs else f"not measured: {reason or 'no data'}",
                 verdict(worst <= 1024) if worst is not None else "—"))

    # start-up
    t = cell_med(data, "startup", "exec /bin/true", "/bin/true", "ms")
    p = cell_med(data, "startup", "exec /bin/true", "preload", "ms")
    if t is not None and p is not None:
        rows.append(("start-up cost ≤ 1 ms", f"{(p - t) * 1000:.0f} µs ({fmt(p)} vs {fmt(t)} ms)",
                     verdict(p - t <= 1.0)))
    else:
        cells = data.get("startup", {}).get("exec /bin/true", {}).get("preload", {})
        rows.append(("start-up cost ≤ 1 ms", f"not measured: {na_reason(cells) or 'no data'}", "—"))

    # bypass: wall clock (noisy) and instruction counts (stable).  The
    # verdict is taken on the share of instructions spent inside
    # libsecsock.so when there is one (deterministic; the shims add no
    # system call), else on the wall clock.
    figs, ratios, reason, n_runs = [], [], None, 0
    instr, shim, share = None, None, None
    for case, cts in data.get("bypass", {}).items():
        a = cell_med(data, "bypass", case, "no-preload", "rps")
        b = cell_med(data, "bypass", case, "preload-bypass", "rps")
        ia = cell_med(data, "bypass", case, "no-preload", "minstr")
        ib = cell_med(data, "bypass", case, "preload-bypass", "minstr")
        if a and b:
            figs.append(f"{case} {(1 - b / a) * 100:+.1f}%")
            ratios.append(b / a)
            n_runs = len(data["bypass"][case]["preload-bypass"]["rps"].values)
        elif ia and ib:
            instr = (ib / ia - 1, len(data["bypass"][case]["preload-bypass"]["minstr"].values))
        elif cell_med(data, "bypass", case, "preload-bypass", "instr") is not None:
            shim = cell_med(data, "bypass", case, "preload-bypass", "instr")
        elif cell_med(data, "bypass", case, "preload-bypass", "pct") is not None:
            share = cell_med(data, "bypass", case, "preload-bypass", "pct")
        elif "preload-bypass" in cts and na_reason(cts["preload-bypass"]):
            reason = na_reason(cts["preload-bypass"])
    parts, ok = [], None
    if share is not None:
        parts.append(f"{share:.2f}% of redis-server's instructions are inside libsecsock.so"
                     + (f" ({fmt(shim)} per request)" if shim is not None else "")
                     + " (callgrind; verdict on this figure)")
        ok = share <= 2.0
    if instr is not None:
        parts.append(f"event-loop instructions {instr[0] * 100:+.2f}% vs no preload "
                     f"(median of {instr[1]} callgrind runs each, ±1% run to run)")
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        parts.append(f"wall clock slow-down {(1 - geo) * 100:+.1f}% (geometric mean of medians of "
                     f"{n_runs} pinned runs; per test: {'; '.join(figs)})")
        if ok is None:
            ok = 1 - geo <= 0.02
    if parts:
        rows.append(("bypassed sockets ≤ 2% slower", "; ".join(parts), verdict(ok)))
    else:
        rows.append(("bypassed sockets ≤ 2% slower", f"not measured: {reason or 'no data'}", "—"))
    return rows


# ---------------------------------------------------------------- plots

def histogram_plot(out_dir, name, title, ylabel, rows, series):
    """rows: [(label, {series: Cell or float})]; clustered bars with min–max bars."""
    dat = os.path.join(out_dir, name + ".dat")
    with open(dat, "w", encoding="utf-8") as f:
        f.write("# case\t" + "\t".join(f"{s}\t{s}-min\t{s}-max" for s in series) + "\n")
        for label, vals in rows:
            cols = []
            for s in series:
                v = vals.get(s)
                if isinstance(v, Cell) and v.values:
                    cols += [f"{v.median:.4f}", f"{min(v.values):.4f}", f"{max(v.values):.4f}"]
                elif isinstance(v, float):
                    cols += [f"{v:.4f}"] * 3
                else:
                    cols += ["-", "-", "-"]
            f.write(label.replace("\t", " ") + "\t" + "\t".join(cols) + "\n")
    plots = []
    for i, s in enumerate(series):
        c = 2 + 3 * i
        spec = f"'{name}.dat'" if i == 0 else "''"
        spec += f" using {c}:{c + 1}:{c + 2}"
        if i == 0:
            spec += ":xtic(1)"
        spec += f" title '{s}'"
        plots.append(spec)
    gp = os.path.join(out_dir, name + ".gp")
    with open(gp, "w", encoding="utf-8") as f:
        f.write(f"""set terminal pngcairo size 1100,520 font 'sans,10'
set output '{name}.png'
set termoption noenhanced
set xrange [-0.5:{len(rows) - 0.5}]
set title "{title}"
set datafile separator '\\t'
set datafile missing '-'
set style data histograms
set style histogram errorbars gap 2 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "{ylabel}"
set yrange [0:*]
set grid ytics
set key outside right top
set xtics nomirror
plot {', '.join(plots)}
""")


def plots(data, meta, out_dir):
    made = []
    if "bulk" in data:
        aead = aead_gbps(data)
        series = []
        rows = []
        for case, cts in data["bulk"].items():
            if case == "all":
                continue
            vals = {}
            for ct, cells in cts.items():
                if "gbps" in cells and cells["gbps"].values:
                    vals[ct] = cells["gbps"]
                    if ct not in series:
                        series.append(ct)
            plain = cell_med(data, "bulk", case, "plain", "gbps")
            lim = model_limit(plain, aead.get("aes-128-gcm"))
            if lim:
                vals["model limit (aes-128-gcm)"] = lim
            rows.append((case, vals))
        if any(v for _, v in rows):
            if any("model limit (aes-128-gcm)" in v for _, v in rows):
                series.append("model limit (aes-128-gcm)")
            histogram_plot(out_dir, "bulk", f"Bulk throughput, iperf3 over loopback (medians, min–max) — {meta.get('mode', '')}",
                           "Gbit/s", rows, series)
            made.append("bulk.png")
    if "redis" in data:
        series, rows = [], []
        for case, cts in data["redis"].items():
            if case == "all" or "-P" in case:
                continue
            vals = {}
            for ct, cells in cts.items():
                if "rps" in cells and cells["rps"].values:
                    vals[ct] = cells["rps"]
                    if ct not in series:
                        series.append(ct)
            rows.append((case, vals))
        if series:
            histogram_plot(out_dir, "redis", "redis-benchmark -c 50 (no pipelining), medians",
                           "requests/s", rows, series)
            made.append("redis.png")
    if "connect" in data:
        series, vals = [], {}
        for case, cts in data["connect"].items():
            for ct, cells in cts.items():
                if "cpu_us" in cells and cells["cpu_us"].values:
                    vals[ct] = cells["cpu_us"]
                    series.append(ct)
        if series:
            histogram_plot(out_dir, "connect",
                           "connect → 1-byte echo → close: CPU per connection, both ends (medians, min–max)",
                           "CPU µs per connection", [("CPU per connection", vals)], series)
            made.append("connect.png")
    return made


# ---------------------------------------------------------------- output

def render(data, meta, images):
    out = ["# secsock benchmark — latest results", "",
           "Written by `bench/run.sh` (`make bench`, or `make bench-quick` for the short smoke run); "
           "do not edit by hand. Contenders run alternately in every repetition; figures are "
           "medians with min–max over the repetitions; ratios are between medians of this run.", "",
           "## Machine and run", "", "| | |", "|---|---|"]
    for k, label in META_ORDER:
        if k in meta:
            out.append(f"| {label} | {meta[k]} |")
    for k, v in meta.items():
        if k not in dict(META_ORDER):
            out.append(f"| {k} | {v} |")
    out += ["", "The machine is shared (other builds and tests run on it), so absolute figures are "
            "noisy; compare within one run.", ""]
    out += ["## Targets (issue 6)", "", "| target | measured | verdict |", "|---|---|---|"]
    for t, m, v in targets(data):
        out.append(f"| {t} | {m} | {v} |")
    out.append("")
    for img in images:
        out.append(f"![{img[:-4]}]({img})")
    if images:
        out.append("")
    out += ["## Comparisons", ""]
    for sec in SECTIONS:
        out += section_table(data, sec)
    return "\n".join(out) + "\n"


def update_readme(readme, data, meta, images, out):
    """Replace the results block of one README; links are made relative to
    that README, so bench/README.md and the top-level README can both carry
    the latest targets table and throughput plot."""
    if not os.path.exists(readme):
        return
    rel = os.path.relpath(os.path.abspath(out), os.path.dirname(os.path.abspath(readme)))
    text = open(readme, encoding="utf-8").read()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    if start not in text or end not in text:
        return
    block = [start, "",
             f"Latest run: {meta.get('mode', '?')}, {meta.get('date', '?')}, commit {meta.get('commit', '?')}, "
             f"{meta.get('cpu', '?')} × {meta.get('cores', '?')} cores, load average "
             f"{meta.get('load_start', '?')} → {meta.get('load_end', '?')}. Full tables: "
             f"[{rel}/latest.md]({rel}/latest.md).", "",
             "| target | measured | verdict |", "|---|---|---|"]
    for t, m, v in targets(data):
        block.append(f"| {t} | {m} | {v} |")
    block.append("")
    if "bulk.png" in images:
        block += [f"![bulk throughput]({rel}/bulk.png)", ""]
    block += section_table(data, "bulk")
    block.append(end)
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: "\n".join(block), text,
                  flags=re.S)
    with open(readme, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--readme", action="append", default=[],
                    help="README with a results block to update (repeatable)")
    a = ap.parse_args()
    data = load_raw(a.raw)
    meta = load_meta(a.meta)
    os.makedirs(a.out, exist_ok=True)
    images = plots(data, meta, a.out)
    with open(os.path.join(a.out, "latest.md"), "w", encoding="utf-8") as f:
        f.write(render(data, meta, images))
    for readme in a.readme:
        update_readme(readme, data, meta, images, a.out)


if __name__ == "__main__":
    main()
