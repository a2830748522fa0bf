# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# vm KERNEL [tests/vm/run options] -- CMD...: run CMD in a test VM on the
# host; sets vm_rc (the runner's exit status) and vm_out (a file with all
# it printed, shown live, indented). A run that fails through a known
# fault of the emulator (the rerun entries of tests/vm/quirks) runs once
# more, with a diagnostic line saying why.

lib_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
vm_run=$lib_top/tests/vm/run

quirk_rc=() quirk_why=() quirk_res=()
rerun() {
	local rc=$2 why=$3 re
	shift 3
	quirk_rc+=("$rc") quirk_why+=("$why")
	re=$(printf '%s\n' "$@")
	quirk_res+=("$re")
}
cmdline() { :; }
tcg_thread() { :; }
in_guest() { :; }
# shellcheck source=tests/vm/quirks
. "$lib_top/tests/vm/quirks"

# vm_quirk: the why of the rerun quirk this run (vm_rc, vm_out) matches.
vm_quirk() {
	local i re hit
	for i in "${!quirk_rc[@]}"; do
		[ "$vm_rc" = "${quirk_rc[i]}" ] || continue
		hit=1
		while IFS= read -r re; do
			grep -q -E -- "$re" "$vm_out" || { hit=0; break; }
		done <<<"${quirk_res[i]}"
		[ "$hit" = 1 ] && { echo "${quirk_why[i]}"; return 0; }
	done
	return 1
}

vm() {
	local attempt why
	for attempt in 1 2; do
		vm_out=$(mktemp)
		"$vm_run" --no-build --kernel "$@" 2>&1 | tee "$vm_out" | sed -u 's/^/    /'
		vm_rc=${PIPESTATUS[0]}
		if [ "$attempt" != 1 ] || ! why=$(vm_quirk); then
			break
		fi
		echo "# $why (tests/vm/quirks); the guest runs once more"
		rm -f "$vm_out"
	done
}
