# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# KTAP results for shell tests (Documentation/dev-tools/ktap.rst), on the
# host and in the guest. A test file reports each thing it checks as one
# result: the runner (tests/lib/run-tests) nests those under the test's
# own result line, and the test's result follows from them.
#
#   check NAME CMD...   ok when CMD succeeds, not ok when it fails
#   pass NAME, fail NAME, skip NAME REASON
#   diag TEXT...        a diagnostic line ("# TEXT")
#   diag_lines TEXT     each line of TEXT as a diagnostic line
#
# The version line comes with the first result; results are numbered here.
# No plan is printed: a shell test knows how many results it has only at
# its end, and ktap.rst allows the plan to be left out. What guards
# against results that never come is the runner's plan, one level up: a
# test that dies before its result line fails.

ktap_n=0
ktap_failed=0
ktap_line() {
	[ "$ktap_n" -gt 0 ] || echo "KTAP version 1"
	ktap_n=$((ktap_n + 1))
	# A description may hold no "#": that starts the directive.
	echo "$1 $ktap_n ${2//#/:}${3:+ # $3}"
}
pass() { ktap_line ok "$1"; }
fail() { ktap_line "not ok" "$1"; ktap_failed=$((ktap_failed + 1)); }
skip() { ktap_line ok "$1" "SKIP $2"; }
diag() { echo "# $*"; }
diag_lines() { echo "# ${1//$'\n'/$'\n'# }"; }
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}
