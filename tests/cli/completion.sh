#!/bin/bash
# completion.sh — the bash completion (completion/secsock.bash, installed as
# /usr/share/bash-completion/completions/secsock): sourced into a bash,
# asked for the completions of a few command lines as readline would ask,
# and checked against the binary and cli/main.c's command table, so a
# subcommand added there cannot be missing from the completion.
CLI_NAME=completion-cli
. "$(dirname "$0")/lib.bash"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
COMP=$REPO/completion/secsock.bash

# comp WORDS...: the completions of the command line "secsock WORDS" with
# the cursor at the end of the last word ("" = a new word), one a line in
# $T/out, sorted.  $S stands in COMP_WORDS[0], as "secsock" would from PATH.
# BASH_COMPLETION=1 loads bash-completion's library first (what an installed
# system has), else the script runs alone.
comp() {
	BASH_COMPLETION=${BASH_COMPLETION:-0} bash -c '
		[ "$BASH_COMPLETION" = 1 ] && . /usr/share/bash-completion/bash_completion
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_secsock
		[ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"' comp "$COMP" "$S" "$@" 2>"$T/err" | sort -u >"$T/out"
}
n=$((n + 1))
bash -n "$COMP" || { echo "FAIL: completion/secsock.bash has a syntax error"; fails=$((fails + 1)); }

# ---- commands: exactly those of cli/main.c's table that this build has
table=$(sed -nE 's/^[[:space:]]*\{ "([a-z]+)", cli_[a-z]+_main,.*/\1/p' "$REPO/cli/main.c")
check "cli/main.c's command table is readable (got: $(echo $table))" [ "$(echo "$table" | wc -w)" -ge 4 ]
comp ""
cp "$T/out" "$T/commands"
for c in $table; do
	if "$S" "$c" --help 2>&1 | grep -q 'not part of this build'; then
		lacks commands "$c" "'$c' is not in this build: not offered"
	else
		check "'secsock <TAB>' offers '$c' (cli/main.c)" grep -qx "$c" "$T/commands"
	fi
done
for c in $(grep -v '^--' "$T/commands"); do
	check "'$c' offered by the completion is in cli/main.c's table" grep -qx "$c" <(printf '%s\n' $table)
done
has commands --version "'secsock <TAB>' offers --version"
comp p
check "'secsock p<TAB>' is policy and peers" [ "$(tr '\n' ' ' <"$T/out")" = "peers policy " ]

# ---- subcommands and options
comp policy ""
for s in check explain show-default keys; do has out "$s" "'secsock policy <TAB>' offers $s"; done
comp policy explain --
for o in --to --from --program --udp --policy --help; do has out "$o" "'policy explain --<TAB>' offers $o"; done
comp peers ""
for s in list add remove show-fingerprint; do has out "$s" "'secsock peers <TAB>' offers $s"; done
comp peers add --
for o in --file --port --names; do has out "$o" "'peers add --<TAB>' offers $o"; done
comp run --
for o in --policy --log --log-file --library --force --explain; do has out "$o" "'secsock run --<TAB>' offers $o"; done
comp keygen --
for o in --system --force --file; do has out "$o" "'secsock keygen --<TAB>' offers $o"; done
comp gkdi ""
for s in gkid seed-key get-key envelope; do has out "$s" "'secsock gkdi <TAB>' offers $s"; done
comp run --log ""
check "'run --log <TAB>' is the four levels" [ "$(tr '\n' ' ' <"$T/out")" = "debug error info warn " ]
comp peers add --port ""
check "'peers add --port <TAB>' offers nothing (a number)" [ ! -s "$T/out" ]

# ---- policy file paths
mkdir -p "$T/pol/sub"
: >"$T/pol/a.conf"; : >"$T/pol/b.conf"; : >"$T/pol/notes.txt"
comp run --policy "$T/pol/"
for f in a.conf b.conf sub; do has out "$T/pol/$f" "'run --policy DIR/<TAB>' offers $f"; done
lacks out notes.txt "'run --policy' prefers *.conf (and directories)"
comp policy check "$T/pol/a"
check "'policy check DIR/a<TAB>' is DIR/a.conf" [ "$(cat "$T/out")" = "$T/pol/a.conf" ]
comp policy explain --policy "$T/pol/b"
check "'policy explain --policy DIR/b<TAB>' is DIR/b.conf" [ "$(cat "$T/out")" = "$T/pol/b.conf" ]
comp peers list --file "$T/pol/no"
check "'peers list --file DIR/no<TAB>' is any file (F)" [ "$(cat "$T/out")" = "$T/pol/notes.txt" ]

# ---- secsock run ... PROGRAM: the program, then its own arguments
mkdir -p "$T/bin"
printf '#!/bin/sh\n' >"$T/bin/zzsecsocktestprog"; chmod +x "$T/bin/zzsecsocktestprog"
PATH=$T/bin:$PATH comp run -- zzsecsock
check "'run -- zzsecsock<TAB>' completes a program in PATH" [ "$(cat "$T/out")" = zzsecsocktestprog ]
PATH=$T/bin:$PATH comp run --policy "$T/pol/a.conf" --force zzsecsock
check "'run --policy F --force zzsecsock<TAB>' (no --) completes the program" [ "$(cat "$T/out")" = zzsecsocktestprog ]
comp run -- cat "$T/pol/no"
check "'run -- cat DIR/no<TAB>' completes cat's argument as a file" [ "$(cat "$T/out")" = "$T/pol/notes.txt" ]
if [ -r /usr/share/bash-completion/bash_completion ]; then
	# with bash-completion's library, PROGRAM's own completion takes over
	BASH_COMPLETION=1 PATH=$T/bin:$PATH comp run -- zzsecsock
	check "with bash-completion: 'run -- zzsecsock<TAB>' completes the program" [ "$(cat "$T/out")" = zzsecsocktestprog ]
	BASH_COMPLETION=1 PATH=$BUILD:$PATH comp run --log info -- secsock pol
	check "with bash-completion: 'run -- secsock pol<TAB>' is secsock's own completion" [ "$(cat "$T/out")" = policy ]
	BASH_COMPLETION=1 comp policy ""
	has out show-default "with bash-completion loaded: 'secsock policy <TAB>' still works"
else
	echo "# bash-completion not installed: its _command_offset path not checked"
fi

cli_done completion
