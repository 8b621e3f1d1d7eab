#!/bin/sh
# check-structure.sh [FILE...] — the size bounds of issue 12: no source file
# in core/, core/base/, policy/, preload/, cli/ or kds/ over 900 lines, and no
# function over 120 lines.  Prints one line per offender,
#   FILE:LINE: file is N lines (limit 900)
#   FILE:LINE: function NAME is N lines (limit 120)
# and exits 1 if there is any.  Without arguments it checks every .c and .h
# file of those folders.
#
# A function's length is its body: from the opening brace at column 0 to the
# closing brace at column 0, both counted (the code is kernel style, a
# function starts `name(...)` with `{` alone on the next line).  Initialised
# data tables (`static const ... = {`, or `= ` followed by a column-0 `{`)
# are data, not functions, and are exempt.  The scan ignores braces inside
# comments, string and character literals, so a `}` at the start of a
# commented-out line cannot end a function early.
#
# Names come from Universal Ctags when it is installed (scripts/
# install-deps.sh installs it): it knows declarators such as attributes and
# functions returning function pointers.  Without it the name is the
# identifier before the first `(` of the lines that precede the brace, which
# is right for every ordinary definition.  The measurement is the same
# either way: ctags only names the block the column-0 scan found.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
FILE_MAX=${FILE_MAX:-900}
FUNC_MAX=${FUNC_MAX:-120}

if [ $# -eq 0 ]; then
	cd "$here"
	set -- core/*.[ch] core/base/*.[ch] policy/*.[ch] preload/*.[ch] cli/*.[ch] kds/*.[ch]
fi

have_ctags=0
if command -v ctags >/dev/null 2>&1 && ctags --version 2>/dev/null | grep -q 'Universal Ctags'; then
	have_ctags=1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-structure.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

status=0
nfiles=0
nfuncs=0
for f in "$@"; do
	[ -f "$f" ] || { echo "check-structure: $f: no such file" >&2; status=1; continue; }
	nfiles=$((nfiles + 1))
	n=$(wc -l <"$f")
	if [ "$n" -gt "$FILE_MAX" ]; then
		echo "$f:1: file is $n lines (limit $FILE_MAX)"
		status=1
	fi
	# "LINE NAME" of every function definition ctags sees, by line.
	: >"$tmp/tags"
	if [ $have_ctags -eq 1 ]; then
		ctags --language-force=C --kinds-C=f --fields=+n -x --_xformat='%n %N' "$f" \
			2>/dev/null | sort -n >"$tmp/tags" || :
	fi
	awk -v file="$f" -v max="$FUNC_MAX" -v tags="$tmp/tags" -v out="$tmp/count" '
	# Remove comments and literals from one line, carrying the open
	# block comment over to the next (state in the global incomment).
	function code(s,    r, i, c, d, q) {
		r = ""
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1); d = substr(s, i + 1, 1)
			if (incomment) {
				if (c == "*" && d == "/") { incomment = 0; i++ }
				continue
			}
			if (c == "/" && d == "*") { incomment = 1; i++; continue }
			if (c == "/" && d == "/") break
			if (c == "\"" || c == "\047") {
				q = c
				for (i++; i <= length(s); i++) {
					c = substr(s, i, 1)
					if (c == "\\") { i++; continue }
					if (c == q) break
				}
				r = r q q
				continue
			}
			r = r c
		}
		return r
	}
	BEGIN {
		nt = 0
		while ((getline t < tags) > 0) {
			split(t, a, " ")
			nt++; tline[nt] = a[1] + 0; tname[nt] = a[2]
		}
		ti = 1; inbody = 0; header = ""; hline = 0; funcs = 0; bad = 0
	}
	{
		startcomment = incomment
		s = code($0)
		# A preprocessor line and its continuations (a macro body may
		# hold braces at column 0) are neither a body nor a declaration.
		if (inmacro || (!startcomment && s ~ /^[ \t]*#/)) {
			inmacro = ($0 ~ /\\$/)
			if (!inbody) { header = ""; hline = 0 }
			next
		}
		if (startcomment) {
			# a line that starts inside a comment starts no block
		} else if (!inbody && substr(s, 1, 1) == "{") {
			inbody = 1; open = FNR
			# The ctags definition nearest above the brace, since the last body.
			name = ""; nline = 0
			while (ti <= nt && tline[ti] <= FNR) {
				if (tline[ti] > lastend) { name = tname[ti]; nline = tline[ti] }
				ti++
			}
			# an initialised table, or a type written with its brace below
			table = (header ~ /=[ \t]*$/ || (header !~ /\(/ && header ~ /(struct|union|enum)/))
			h = header
			gsub(/__attribute__[ \t]*\(\([^()]*(\([^()]*\)[^()]*)*\)\)/, "", h)
			if (name == "" && !table && match(h, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
				name = substr(h, RSTART, RLENGTH)
				sub(/[ \t]*\($/, "", name)
				nline = hline
			}
			if (name == "" && !table) { name = "?"; nline = FNR }
			next
		} else if (inbody && substr(s, 1, 1) == "}") {
			inbody = 0; lastend = FNR; header = ""; hline = 0
			if (table) next
			funcs++
			len = FNR - open + 1
			if (len > max) {
				printf "%s:%d: function %s is %d lines (limit %d)\n", file, nline, name, len, max
				bad = 1
			}
			next
		}
		if (inbody) next
		# Outside a body: collect the declaration the next brace would open.
		# A declaration ends with its semicolon; a one-line function
		# with its closing brace.
		if (s ~ /;[ \t]*$/ || s ~ /}[ \t]*$/ || s ~ /^}/) { header = ""; hline = 0; next }
		if (s ~ /[^ \t]/) {
			# After a complete `NAME(...)` line, a line at column 0
			# starts anew: the first was a macro call such as
			# `OPEN_SHIM(open, 0)`, not the head of this definition.
			if (header ~ /\)[ \t]*$/ && s ~ /^[^ \t]/) { header = ""; hline = 0 }
			if (hline == 0 || header !~ /\(/) hline = FNR
			header = header " " s
		}
	}
	END {
		if (inbody) {
			printf "%s:%d: a brace at column 0 is never closed at column 0\n", file, open
			bad = 1
		}
		print funcs > out
		exit bad
	}' "$f" || status=1
	nfuncs=$((nfuncs + $(cat "$tmp/count" 2>/dev/null || echo 0)))
done

if [ $status -eq 0 ]; then
	echo "check-structure: ok ($nfiles files <= $FILE_MAX lines, $nfuncs functions <= $FUNC_MAX lines)"
fi
exit $status
