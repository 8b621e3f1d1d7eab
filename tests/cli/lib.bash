# lib.bash — sourced by tests/cli/*.sh (not a test itself: check-cli runs
# *.sh only).  Gives $S (the secsock binary), $T (a temp dir removed at
# exit), the counters and the checks; each check prints one FAIL line with
# what was seen.  Set CLI_NAME before sourcing (the temp dir's name);
# EXPECT_BEFORE, when set, is run before each `expect` command.
set -u
S="${BUILD:?BUILD must be the build directory}/secsock"
T=$(mktemp -d "/tmp/secsock-${CLI_NAME:-cli}.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0
n=0

# expect CODE DESC -- CMD...  (stdout → $T/out, stderr → $T/err)
expect() {
	local want=$1 desc=$2; shift 3
	n=$((n + 1))
	${EXPECT_BEFORE:-:}
	"$@" >"$T/out" 2>"$T/err"
	local got=$?
	if [ "$got" != "$want" ]; then
		echo "FAIL: $desc: exit $got, want $want"; sed 's/^/  out: /' "$T/out"; sed 's/^/  err: /' "$T/err"
		fails=$((fails + 1))
	fi
}
# has FILE TEXT DESC / lacks FILE TEXT DESC: a fixed string in $T/FILE, or not
has() {
	n=$((n + 1))
	if ! grep -qF -- "$2" "$T/$1"; then
		echo "FAIL: $3: $1 lacks '$2'"; sed "s/^/  $1: /" "$T/$1"; fails=$((fails + 1))
	fi
}
lacks() {
	n=$((n + 1))
	if grep -qF -- "$2" "$T/$1"; then
		echo "FAIL: $3: $1 has '$2'"; sed "s/^/  $1: /" "$T/$1"; fails=$((fails + 1))
	fi
}
# line FILE REGEX DESC: an extended regex matches a line of $T/FILE
line() {
	n=$((n + 1))
	if ! grep -qE -- "$2" "$T/$1"; then
		echo "FAIL: $3: $1 has no line like '$2'"; sed "s/^/  $1: /" "$T/$1"; fails=$((fails + 1))
	fi
}
# check DESC CMD...: CMD succeeds
check() {
	local desc=$1; shift
	n=$((n + 1))
	"$@" || { echo "FAIL: $desc"; fails=$((fails + 1)); }
}
# cli_done NAME: the summary line; the exit status of the script
cli_done() {
	echo "$1: $((n - fails))/$n checks passed"
	[ "$fails" = 0 ]
}
