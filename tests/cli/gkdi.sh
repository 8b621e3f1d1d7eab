#!/bin/bash
# gkdi.sh — `secsock gkdi` against the MS-GKDI known answers of
# tests/vectors/gkdi.json (issue 15 must-show 1 through the CLI): time to
# GKID, L0 seed keys, the GetKey answer checked against seed-key, envelope
# decoding; output formats, exit codes (0 ok, 1 bad input with one line on
# stderr, 2 usage).
CLI_NAME=gkdi-cli
. "$(dirname "$0")/lib.bash"
V="$(dirname "$0")/../vectors/gkdi.json"
# vec NAME: the string value of NAME in the flat vector file
vec() { sed -n "s/^ *\"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" "$V"; }
# one_line: bad input says why in exactly one line
one_line() { check "$1: one line on stderr" [ "$(wc -l <"$T/err")" = 1 ]; }

expect 0 "gkdi --help" -- "$S" gkdi --help
has out "secsock gkdi seed-key" "--help shows the commands"
expect 0 "gkdi get-key --help" -- "$S" gkdi get-key --help
expect 2 "gkdi without a command" -- "$S" gkdi
expect 2 "gkdi unknown command" -- "$S" gkdi frobnicate
expect 0 "secsock --help lists gkdi" -- "$S" --help
has out "gkdi" "the command table has gkdi"

# ---- gkid: every time -> GKID vector
for i in $(seq 0 $(($(vec time_count) - 1))); do
	IFS=, read -r t l0 l1 l2 <<<"$(vec "time_$i")"
	expect 0 "gkid --nttime $t" -- "$S" gkdi gkid --nttime "$t"
	check "gkid --nttime $t = $l0,$l1,$l2 (got $(cat "$T/out"))" [ "$(cat "$T/out")" = "$l0,$l1,$l2" ]
done
expect 0 "gkid --unix 0" -- "$S" gkdi gkid --unix 0
u0=$(cat "$T/out")
expect 0 "gkid --nttime of 1970" -- "$S" gkdi gkid --nttime 116444736000000000
check "--unix S is --nttime (S + 11644473600) * 10^7" [ "$u0" = "$(cat "$T/out")" ]
expect 2 "gkid with both times" -- "$S" gkdi gkid --nttime 1 --unix 1
expect 2 "gkid with no time" -- "$S" gkdi gkid
expect 1 "gkid --nttime not a number" -- "$S" gkdi gkid --nttime 12x
one_line "gkid --nttime 12x"
expect 1 "gkid --nttime beyond 64 bits" -- "$S" gkdi gkid --nttime 18446744073709551616
expect 1 "gkid --unix beyond NTTIME" -- "$S" gkdi gkid --unix 18446744073709551615
expect 1 "gkid --nttime negative" -- "$S" gkdi gkid --nttime -1

# ---- seed-key: the L0 vectors (no SD enters an L0 key)
for i in 0 1; do
	expect 0 "seed-key L0 vector $i" -- "$S" gkdi seed-key --root-key-id "$(vec "l0_${i}_root_key_id")" \
		--root-key "$(vec "l0_${i}_root_key")" --hash "$(vec "l0_${i}_hash")" --sd "$(vec sd_gmsa)" \
		--gkid "$(vec "l0_${i}_l0"),-1,-1"
	check "L0 seed key $i = $(vec "l0_${i}_expected")" [ "$(cat "$T/out")" = "$(vec "l0_${i}_expected")" ]
done
# the whole chain with a security descriptor (Windows-made root key)
for i in $(seq 0 $(($(vec chain_count) - 1))); do
	expect 0 "seed-key chain $(vec "chain_$i")" -- "$S" gkdi seed-key --root-key-id "$(vec chain_root_key_id)" \
		--root-key "$(vec chain_root_key)" --sd "$(vec chain_sd)" --gkid "$(vec "chain_$i")"
	check "seed key $(vec "chain_$i") = $(vec "chain_${i}_expected" | cut -c1-16)..." [ "$(cat "$T/out")" = "$(vec "chain_${i}_expected")" ]
done
# Samba's seed key vectors (gMSA SD): SHA1, SHA256, SHA384, SHA512
for i in $(seq 0 $(($(vec samba_count) - 1))); do
	expect 0 "seed-key samba $i" -- "$S" gkdi seed-key --root-key-id "$(vec "samba_${i}_root_key_id")" \
		--root-key "$(vec "samba_${i}_root_key")" --hash "$(vec "samba_${i}_hash")" --sd "$(vec sd_gmsa)" \
		--gkid "$(vec "samba_${i}_gkid")"
	check "samba $(vec "samba_${i}_name")" [ "$(cat "$T/out")" = "$(vec "samba_${i}_expected")" ]
done
RK=$(vec l0_0_root_key)
RKID=$(vec l0_0_root_key_id)
SD=$(vec sd_gmsa)
seed() { "$S" gkdi seed-key --root-key-id "$RKID" --root-key "$RK" --sd "$SD" --gkid "$1"; }
expect 0 "seed-key default hash is SHA512" -- "$S" gkdi seed-key --root-key-id "$RKID" --root-key "$RK" --sd "$SD" --gkid 361,-1,-1
check "same L0 key without --hash" [ "$(cat "$T/out")" = "$(vec l0_0_expected)" ]
expect 0 "seed-key L1" -- seed 361,5,-1
line out '^[0-9a-f]{128}$' "seed-key prints 128 lowercase hex digits"
expect 0 "seed-key L2" -- seed 361,5,7
expect 1 "seed-key root key of 63 bytes" -- "$S" gkdi seed-key --root-key-id "$RKID" --root-key "${RK:2}" --sd "$SD" --gkid 361,-1,-1
one_line "root key of 63 bytes"
expect 1 "seed-key bad GUID" -- "$S" gkdi seed-key --root-key-id 7dc95c96-fa85-183a-dff5 --root-key "$RK" --sd "$SD" --gkid 361,-1,-1
expect 1 "seed-key unknown hash" -- "$S" gkdi seed-key --root-key-id "$RKID" --root-key "$RK" --hash sha512 --sd "$SD" --gkid 361,-1,-1
expect 1 "seed-key SD not hex" -- "$S" gkdi seed-key --root-key-id "$RKID" --root-key "$RK" --sd 0g --gkid 361,-1,-1
expect 1 "seed-key GKID L1 = -1 with L2" -- seed 361,-1,3
expect 1 "seed-key GKID L2 = 32" -- seed 361,3,32
expect 1 "seed-key default GKID" -- seed -1,-1,-1
expect 2 "seed-key without --sd" -- "$S" gkdi seed-key --root-key-id "$RKID" --root-key "$RK" --gkid 361,-1,-1
expect 2 "seed-key with --now" -- "$S" gkdi seed-key --root-key-id "$RKID" --root-key "$RK" --sd "$SD" --gkid 361,-1,-1 --now 1,1,1

# ---- get-key: the answer's keys are the chain's keys
getkey() { "$S" gkdi get-key --root-key-id "$RKID" --root-key "$RK" --sd "$SD" --requested "$1" --now "$2"; }
hexof() { sed -n "s/.*\"$1\": \"\\([0-9a-f]*\\)\".*/\\1/p" "$T/out"; }
expect 0 "get-key latest" -- getkey -1,-1,-1 361,17,8
line out '^\{"gkid": \[361, 17, 8\], "l1_key": "[0-9a-f]{128}", "l1_gkid": \[361, 16, -1\], "l2_key": "[0-9a-f]{128}"\}$' "get-key JSON (L2 key and the next older L1 key)"
check "l2_key = seed-key 361,17,8" [ "$(hexof l2_key)" = "$(seed 361,17,8)" ]
check "l1_key = seed-key 361,16,-1" [ "$(hexof l1_key)" = "$(seed 361,16,-1)" ]
expect 0 "get-key at L2 index 31" -- getkey -1,-1,-1 361,4,31
line out '^\{"gkid": \[361, 4, 31\], "l1_key": "[0-9a-f]{128}", "l1_gkid": \[361, 4, -1\], "l2_key": null\}$' "L2 index 31: the L1 key alone"
check "l1_key = seed-key 361,4,-1" [ "$(hexof l1_key)" = "$(seed 361,4,-1)" ]
expect 0 "get-key at L1 index 0" -- getkey -1,-1,-1 361,0,3
line out '^\{"gkid": \[361, 0, 3\], "l1_key": null, "l1_gkid": null, "l2_key": "[0-9a-f]{128}"\}$' "L1 index 0: the L2 key alone"
expect 0 "get-key an older key of this L0" -- getkey 361,2,2 361,17,8
line out '"gkid": \[361, 17, 8\]' "an older key of the current L0: the current GKID"
expect 0 "get-key an earlier L0" -- getkey 360,3,3 361,17,8
line out '^\{"gkid": \[360, 31, 31\], "l1_key": "[0-9a-f]{128}", "l1_gkid": \[360, 31, -1\], "l2_key": null\}$' "an earlier L0: (L0,31,31)"
expect 1 "get-key newer than now" -- getkey 361,17,9 361,17,8
has err "newer than --now" "says why"
one_line "newer than now"
expect 1 "get-key partial request" -- getkey 361,-1,-1 361,17,8
expect 1 "get-key --now not an L2 GKID" -- getkey -1,-1,-1 361,17,-1
expect 2 "get-key without --now" -- "$S" gkdi get-key --root-key-id "$RKID" --root-key "$RK" --sd "$SD" --requested -1,-1,-1

# get-key against Samba's vectors: the answer shapes its GetKey tests name
sgk() {  # sgk I REQUESTED NOW: get-key with samba vector I's root key
	"$S" gkdi get-key --root-key-id "$(vec "samba_${1}_root_key_id")" --root-key "$(vec "samba_${1}_root_key")" \
		--hash "$(vec "samba_${1}_hash")" --sd "$(vec sd_gmsa)" --requested "$2" --now "$3"
}
expect 0 "get-key samba both seed keys" -- sgk 2 -1,-1,-1 123,21,0
check "L1 key (123,20,-1) = samba's next older L1" [ "$(hexof l1_key)" = "$(vec samba_2_expected)" ]
check "L2 key (123,21,0) = samba's L2" [ "$(hexof l2_key)" = "$(vec samba_3_expected)" ]
expect 0 "get-key samba L2 seed key at L1 index 0" -- sgk 1 -1,-1,-1 321,0,12
check "L2 key (321,0,12) = samba's, no L1 key" [ "$(hexof l2_key)" = "$(vec samba_1_expected)" ]
has out '"l1_key": null' "L1 index 0: no L1 key"
expect 0 "get-key samba L1 seed key at L2 index 31" -- sgk 0 -1,-1,-1 255,24,31
check "L1 key (255,24,-1) = samba's" [ "$(hexof l1_key)" = "$(vec samba_0_expected)" ]
expect 0 "get-key samba previous L0" -- sgk 4 100,5,5 101,0,0
check "L1 key (100,31,-1) = samba's previous-L0 key" [ "$(hexof l1_key)" = "$(vec samba_4_expected)" ]

# ---- envelope --decode: the two envelope vectors
for i in 0 1; do
	IFS=, read -r ver flags l0 l1 l2 <<<"$(vec "env_${i}_fields")"
	expect 0 "envelope --decode vector $i" -- "$S" gkdi envelope --decode "$(vec "env_${i}_hex")"
	has out "\"version\": $ver, \"flags\": $flags, \"l0\": $l0, \"l1\": $l1, \"l2\": $l2, \"root_key_id\": \"$(vec "env_${i}_root_key_id")\"" "envelope $i header"
	has out "\"kdf_algorithm\": \"SP800_108_CTR_HMAC\", \"kdf_parameters\": \"$(vec "env_${i}_kdf_parameters")\", \"kdf_hash\": \"SHA512\"" "envelope $i KDF"
	has out "\"secret_agreement_algorithm\": \"DH\", \"secret_agreement_parameters_len\": 524" "envelope $i secret agreement"
	has out "\"private_key_length\": 512, \"public_key_length\": 2048" "envelope $i key lengths"
	has out "\"domain_name\": \"$(vec "env_${i}_domain")\", \"forest_name\": \"$(vec "env_${i}_forest")\"" "envelope $i names"
	has out "\"l1_key\": \"$(vec "env_${i}_l1_key")\", \"l1_key_gkid\": [$l0, $((l1 - 1)), -1]" "envelope $i L1 key is (L0,L1-1,-1)"
	has out "\"l2_key\": \"$(vec "env_${i}_l2_key")\"}" "envelope $i L2 key"
	check "envelope $i output is one JSON object (python json)" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out"
done
E=$(vec env_0_hex)
# a '"' in the domain name (printable ASCII) is escaped: still one JSON object
expect 0 "envelope with a quote in the domain" -- "$S" gkdi envelope --decode "${E/64006f006d00/64006f002200}"
check "the quote is escaped" python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["domain_name"] == "do\"ain.test"' "$T/out"
expect 1 "envelope truncated" -- "$S" gkdi envelope --decode "${E:0:${#E}-2}"
has err "not a group key envelope" "says what"
one_line "envelope truncated"
expect 1 "envelope with a trailing byte" -- "$S" gkdi envelope --decode "${E}00"
has err "trailing" "names the trailing bytes"
expect 1 "envelope version 2" -- "$S" gkdi envelope --decode "02${E:2}"
has err "version" "names the version"
expect 1 "envelope not hex" -- "$S" gkdi envelope --decode "zz"
one_line "envelope not hex"
expect 1 "envelope empty" -- "$S" gkdi envelope --decode ""
expect 2 "envelope without --decode" -- "$S" gkdi envelope
expect 2 "envelope extra operand" -- "$S" gkdi envelope --decode "$E" extra

cli_done gkdi
