# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# TAP from a guest shell script: plan N, then t_ok/t_fail/t_check per test.
t_n=0
t_plan() { echo "1..$1"; }
t_ok() { t_n=$((t_n + 1)); echo "ok $t_n - $*"; }
t_fail() { t_n=$((t_n + 1)); echo "not ok $t_n - $*"; }
t_skip() { t_n=$((t_n + 1)); echo "ok $t_n - $1 # SKIP $2"; }
# t_check NAME CMD...: one result from a command's success.
t_check() {
	local name=$1
	shift
	if "$@"; then t_ok "$name"; else t_fail "$name"; fi
}
# wait_for CMD...: retry CMD for up to 10 s (device nodes and sysfs appear
# a moment after the event that creates them).
wait_for() {
	local i
	for i in $(seq 100); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
ivshmem_bdf() { lspci -D -n -d 1af4:1110 | awk '{print $1; exit}'; }
