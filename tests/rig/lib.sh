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
# (a file with everything the run printed). Output is shown live, indented.
# Two failures of the emulator, not of the kernel under test, make the guest
# run once more, reported as a TAP comment; the second attempt counts like
# any other run:
#  - QEMU 7.2 aborting on one of its own assertions (msix_table_mmio_read()
#    around a PCIe re-plug: a race between memory-map changes and MMIO on
#    another vCPU; tests/vm/run avoids it for the Debian kernels' guests,
#    the debug kernel's keep a thread per vCPU and the small risk);
#  - a boot that stalls before the command starts (tests/vm/run says
#    "boot stalled"; an emulated vCPU has been seen waiting minutes for an
#    interrupt that got lost);
#  - a kernel that dies while booting on an int3 trap ("Oops: int3"), our
#    modules not loaded yet: a vCPU ran a breakpoint byte that the other
#    vCPU's live code patching (text_poke_bp, a static key turned on at
#    boot) had already replaced, which a real CPU cannot do after the
#    patching's synchronisation; seen once, on the debug kernel's one
#    thread per vCPU.
#  - a kernel that dies while booting in mask_ioapic_irq(), our modules not
#    loaded yet: an interrupt came in while the IO-APIC's interrupt domain
#    was being set up (mp_irqdomain_alloc()), before the interrupt had its
#    chip data; seen once in about 40 boots of the 7.3 debug kernel, 0.02 s
#    into the boot, on its one thread per vCPU.
vm() {
	local attempt why
	for attempt in 1 2; do
		vm_out=$(mktemp)
		"$vm_run" --no-build --kernel "$@" 2>&1 | tee "$vm_out" | sed -u 's/^/    /'
		vm_rc=${PIPESTATUS[0]}
		[ "$attempt" = 1 ] && { [ "$vm_rc" = 124 ] || [ "$vm_rc" = 125 ]; } || break
		if [ "$vm_rc" = 124 ] &&
		    why=$(grep -m 1 -E '^  qemu-system-[a-z0-9_]+: .*Assertion .* failed' "$vm_out"); then
			why="QEMU aborted:${why#  qemu-system-x86_64:}"
		elif [ "$vm_rc" = 124 ] &&
		    why=$(grep -m 1 -E '^\[vm [^]]*\] boot stalled: ' "$vm_out"); then
			why=${why#*] }
		elif grep -q -E '^\[vm [^]]*\] the guest died while booting' "$vm_out" &&
		    grep -q -E '\] Oops: int3: ' "$vm_out"; then
			why="the kernel died while booting on a stale int3 of its own code patching (the emulator's)"
		elif grep -q -E '^\[vm [^]]*\] the guest died while booting' "$vm_out" &&
		    grep -q -E '\] RIP: 0010:mask_ioapic_irq\+' "$vm_out"; then
			why="the kernel died while booting on an interrupt that came in during its IO-APIC set-up"
		else
			break
		fi
		echo "# $why; the guest runs once more"
		rm -f "$vm_out"
	done
}

# vm_tap KERNEL [run options] -- CMD...: run a guest that prints TAP
# ("1..N" plans, "ok N - name" lines) and re-emit its results as this
# suite's, named "KERNEL: name". Results a plan promised but the guest never
# printed (it died, or hung) count as failures.
vm_tap() {
	local kernel=$1 planned reported
	vm "$@"
	while IFS= read -r line; do
		case "$line" in
		"ok "*) line=${line#ok }; echo "ok - $kernel: ${line#* - }" ;;
		"not ok "*) line=${line#not ok }; not_ok "$kernel: ${line#* - }" ;;
		esac
	done < <(sed -n -E 's/^((not )?ok [0-9]+ - .*)$/\1/p' "$vm_out")
	planned=$(sed -n -E 's/^1\.\.([0-9]+)$/\1/p' "$vm_out" | awk '{s += $1} END {print s + 0}')
	reported=$(grep -c -E '^(not )?ok [0-9]+ - ' "$vm_out")
	if [ "$reported" -lt "$planned" ]; then
		not_ok "$kernel: $((planned - reported)) of $planned planned tests never reported (guest exit $vm_rc)"
	fi
	if [ "$vm_rc" = 125 ] || [ "$vm_rc" = 124 ]; then
		not_ok "$kernel: guest run failed with exit $vm_rc (splat or timeout, see above)"
	elif [ "$vm_rc" != 0 ] && ! grep -q -E '^not ok [0-9]+ - ' "$vm_out"; then
		# The guest command failed before it could say what failed.
		not_ok "$kernel: guest command exited $vm_rc without reporting a failure (see above)"
	fi
}
