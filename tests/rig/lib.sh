# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Helpers for host-side test suites: TAP lines and a VM run whose output is
# kept for assertions.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
vm_run=$top/tests/vm/run
status=0

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; status=1; }
skip() { echo "ok - $1 # SKIP $2"; }

# check NAME COMMAND...: one TAP line from a command's success.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# vm KERNEL [run options] -- CMD...: run in a VM; sets $vm_rc and $vm_out
# (a file with everything the run printed). Output is shown indented.
vm() {
	vm_out=$(mktemp)
	"$vm_run" --no-build --kernel "$@" >"$vm_out" 2>&1
	vm_rc=$?
	sed 's/^/    /' "$vm_out"
}
