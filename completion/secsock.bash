# bash completion for secsock(1)                          -*- shell-script -*-
#
# Nothing here lists secsock's commands or options: they are read from the
# secsock being completed, so a new subcommand or option completes as soon
# as the binary has it (tests/cli/completion.sh checks this against
# cli/main.c's table).
#   - commands: the "commands:" section of `secsock --help` (only those part
#     of this build);
#   - a command's subcommands: the word after "secsock CMD" on the usage
#     lines of `secsock CMD --help` (policy check, peers add, ...);
#   - options: every --word in `secsock CMD [SUB] --help`;
#   - values: an option whose help names FILE, PATH, F or KEYFILE takes a
#     file name (policy files: *.conf first), --log a level, --program a
#     command; `secsock run ... -- PROG` completes PROG and then PROG's own
#     arguments as bash would without secsock.

# _secsock_help WORDS...: `secsock WORDS --help`, stdout and stderr (some
# subcommands print their usage on stderr); with a subcommand (WORDS = CMD
# SUB), only its usage lines and the option lines ("  --opt ..."), since a
# subcommand may print its command's whole usage.
_secsock_help()
{
	if [ $# -ge 2 ]; then
		"${_secsock_bin:-secsock}" "$@" --help 2>&1 |
			grep -E -- "secsock $1 $2( |\$)|^[[:space:]]+--[a-z]"
	else
		"${_secsock_bin:-secsock}" "$@" --help 2>&1
	fi
}

_secsock_commands()
{
	_secsock_help | awk '/^commands:/ { on = 1; next } on && /^$/ { exit }
		on && /^  [a-z]/ { print $1 }'
}

# _secsock_subcommands CMD: the words after "secsock CMD" on its usage lines.
_secsock_subcommands()
{
	_secsock_help "$1" | awk -v cmd="$1" '
		/^(usage:)? *secsock / { for (i = 1; i < NF; i++) if ($i == "secsock" && $(i + 1) == cmd) {
			w = $(i + 2); if (w ~ /^[a-z][a-z0-9-]*$/ && !seen[w]++) print w } }'
}

# _secsock_options WORDS...: the --options `secsock WORDS --help` mentions.
_secsock_options()
{
	_secsock_help "$@" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u
}

# _secsock_argname OPT WORDS...: the metavariable after OPT in the help text.
_secsock_argname()
{
	local opt=$1
	shift
	_secsock_help "$@" | grep -oE -- "\\[?$opt( |=)[A-Z][A-Z0-9:,./\\[-]*" | head -n1 |
		sed -E "s/^\\[?$opt[ =]//"
}

_secsock_files()
{
	local IFS=$'\n'
	if [ "${1:-}" = policy ]; then
		COMPREPLY=($(compgen -f -X '!*.conf' -- "$cur") $(compgen -d -- "$cur"))
		[ ${#COMPREPLY[@]} -gt 0 ] || COMPREPLY=($(compgen -f -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
	# names, not words: a trailing / on directories, quoting of spaces
	compopt -o filenames 2>/dev/null
}

_secsock()
{
	local cur prev cmd sub i w
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	local _secsock_bin=${COMP_WORDS[0]}
	COMPREPLY=()

	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$(_secsock_commands) --help --version" -- "$cur"))
		return
	fi
	cmd=${COMP_WORDS[1]}

	# secsock run [OPTIONS] [--] PROGRAM ARGS...: from PROGRAM on, complete as
	# bash would for PROGRAM itself.
	if [ "$cmd" = run ]; then
		local prog=-1
		for ((i = 2; i < COMP_CWORD; i++)); do
			w=${COMP_WORDS[i]}
			case $w in
			--) prog=$((i + 1)); break ;;
			-*) [ -z "$(_secsock_argname "$w" run)" ] || i=$((i + 1)) ;;
			*) prog=$i; break ;;
			esac
		done
		if [ "$prog" -lt 0 ] && [[ $cur != -* ]] && { [[ $prev != -* ]] || [ "$prev" = --force ] ||
			[ "$prev" = --explain ]; }; then
			prog=$COMP_CWORD
		fi
		if [ "$prog" -ge 0 ]; then
			if declare -F _command_offset >/dev/null; then
				_command_offset "$prog"
			elif [ "$prog" -eq "$COMP_CWORD" ]; then
				COMPREPLY=($(compgen -c -- "$cur"))
			else
				_secsock_files
			fi
			return
		fi
	fi

	# The subcommand, for commands that have them (policy, peers, gkdi, ...).
	local subs
	subs=$(_secsock_subcommands "$cmd")
	if [ -n "$subs" ]; then
		if [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=($(compgen -W "$subs" -- "$cur"))
			return
		fi
		sub=${COMP_WORDS[2]}
	fi

	# The value of the option before the cursor.
	if [[ $prev == --* ]]; then
		local arg
		arg=$(_secsock_argname "$prev" "$cmd" $sub)
		case $prev:$arg in
		--log:*) COMPREPLY=($(compgen -W "error warn info debug" -- "$cur")); return ;;
		--policy:*) _secsock_files policy; return ;;
		--program:*) COMPREPLY=($(compgen -c -- "$cur")); return ;;
		*:FILE | *:PATH | *:F | *:KEYFILE) _secsock_files; return ;;
		*:?*) return ;;  # a number, an address, hex: nothing to offer
		esac
	fi

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_secsock_options "$cmd" $sub) --help" -- "$cur"))
		return
	fi
	# Positional FILE arguments: `policy check [FILE]`, `peers show-fingerprint [KEYFILE]`.
	case $cmd:$sub in
	policy:check) _secsock_files policy ;;
	*) _secsock_help "$cmd" $sub | grep -qE "secsock $cmd ${sub:+$sub }.*\\[?(FILE|KEYFILE)\\]?\$" &&
		_secsock_files ;;
	esac
}
complete -F _secsock secsock
