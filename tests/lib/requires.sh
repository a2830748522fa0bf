# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# What a test can require: the one list of requirement names (each
# req_NAME below, with a comment that starts "# req_NAME"; tests/new
# --requirements prints them). A test file's requires() calls `need NAME` once
# per requirement; a requirement that is not met says why, and the runner
# reports the test as skipped with that reason instead of running it.
# Each req_NAME below succeeds when its requirement is met, and otherwise
# prints the reason and fails. They run where the test runs: in the guest
# for every area but rig.

# What the kernel under test is: P2P_KERNEL, its name in tools/kernels.
. "${BASH_SOURCE[0]%/*}/../../tools/kernels"

skip_reasons=()
need() {
	local why
	why=$("req_$1" "${@:2}") && return 0
	skip_reasons+=("${why:-$1 is not met}")
	return 0
}

# req_p2pdma_core: the kernel has the P2PDMA core (Debian's 7.x and our
# debug kernel, not Debian's 6.x).
req_p2pdma_core() {
	grep -q ' pci_p2pdma_add_resource$' /proc/kallsyms && return 0
	echo "no P2PDMA core in $(uname -r)"
	return 1
}
# p2pmem_faults: mainline p2pmem maps its memory with faults, from memory
# that lives with the mapping (our series, patches/pgmap-folios 0009-0012:
# vmf_insert_folio() comes with it); without, it inserts its pages at
# mmap() (nvme/006 checks either).
p2pmem_faults() { grep -q ' vmf_insert_folio$' /proc/kallsyms; }
# req_no_p2pdma_core: the kernel has no P2PDMA core (Debian's 6.x).
req_no_p2pdma_core() {
	grep -q ' pci_p2pdma_add_resource$' /proc/kallsyms || return 0
	echo "$(uname -r) has the P2PDMA core"
	return 1
}
# req_core_pgmap: the P2PDMA core built the pgmap (a stock P2PDMA kernel,
# without our series' pci_p2pdma_add_pagemap()), so it has a pool to drain.
req_core_pgmap() {
	p2pdma_core_stock && return 0
	echo "the driver made the pgmap (no P2PDMA core, or pci_p2pdma_add_pagemap())"
	return 1
}
# req_pins: ibv_reg_mr can pin device memory.
req_pins() { ! pin_refused; }
# req_pins_refused: ibv_reg_mr cannot pin device memory, and the refusal
# is there to be explained.
req_pins_refused() {
	pin_refused >/dev/null && return 0
	echo "this kernel registers device memory"
	return 1
}
# long_term_pins_are HOW: the driver's long_term_pins attribute (what
# remove does to long-term pins of the device's memory: waited, refused or
# revoked) reads HOW; else says what it reads, and fails.
long_term_pins_are() {
	local how
	node || { modprobe p2p_pgmap && wait_for node; } >/dev/null 2>&1
	how=$(attr long_term_pins 2>/dev/null)
	[ "$how" = "$1" ] && return 0
	echo "long_term_pins: ${how:-unknown} on $(uname -r)"
	return 1
}
# req_revoked_pins: remove revokes long-term pins (our series,
# patches/revocable-pins).
req_revoked_pins() {
	local why
	why=$(long_term_pins_are revoked) && return 0
	echo "remove does not revoke long-term pins here ($why)"
	return 1
}
# req_waited_pins: remove waits for long-term pins (no P2PDMA core).
req_waited_pins() {
	local why
	why=$(long_term_pins_are waited) && return 0
	echo "remove does not wait for long-term pins here ($why)"
	return 1
}
# rxe_has_odp: soft-RoCE (rxe0, set up here if the area has not) can
# register on-demand-paging memory regions (rxe on 7.x with
# CONFIG_INFINIBAND_ON_DEMAND_PAGING; not 6.1 or 6.12).
rxe_has_odp() {
	ibv_devices 2>/dev/null | grep -qw rxe0 || setup_rxe >/dev/null 2>&1
	ibv_devinfo -v -d rxe0 2>/dev/null | grep -q ODP_SUPPORT
}
# req_odp: rxe0 has on-demand paging.
req_odp() {
	rxe_has_odp && return 0
	echo "rxe0 on $(uname -r) has no on-demand paging (no ODP_SUPPORT)"
	return 1
}
# req_kunit: the KUnit tests were built for this kernel (CONFIG_KUNIT).
req_kunit() {
	modinfo -n pgmap_folio_kunit >/dev/null 2>&1 && return 0
	echo "$(uname -r) is built without CONFIG_KUNIT"
	return 1
}
# req_series_kunit: the kernel carries our series' in-tree KUnit suite
# (patches/pgmap-folios/0006, CONFIG_PGMAP_FOLIO_KUNIT_TEST).
req_series_kunit() {
	modinfo -n pgmap_folio_core_kunit >/dev/null 2>&1 && return 0
	echo "$(uname -r) has no in-tree pgmap_folio_core_kunit (a kernel without our series)"
	return 1
}
# req_intree_driver: the kernel carries our series' own copy of the
# driver (patches/pgmap-folios/0007, CONFIG_P2P_PGMAP=m) in its module
# tree, beside the project's in updates/.
req_intree_driver() {
	intree_driver >/dev/null && return 0
	echo "$(uname -r) has no in-tree p2p_pgmap module (a kernel without our series)"
	return 1
}
# intree_driver: print the path of that module.
intree_driver() {
	find "/lib/modules/$(uname -r)/kernel/drivers/misc/p2p_pgmap" -name 'p2p_pgmap.ko*' \
		2>/dev/null | grep .
}
# req_devices N: at least N p2p_pgmap devices (the guest's ivshmem devices,
# or outside the test VM those bound to p2p_pgmap).
req_devices() {
	local n
	if [ "${P2P_VM:-0}" = 1 ]; then
		n=$(lspci -n -d 1af4:1110 | grep -c .)
	else
		# This machine's own: those bound to p2p_pgmap.
		n=$(find /sys/bus/pci/drivers/p2p_pgmap -maxdepth 1 -name '0000:*' 2>/dev/null | grep -c .)
	fi
	[ "$n" -ge "$1" ] && return 0
	if [ "${P2P_VM:-0}" = 1 ]; then
		echo "needs $1 ivshmem devices, the guest has $n (the area's VM_ARGS)"
	else
		echo "needs $1 devices bound to p2p_pgmap, this machine has $n"
	fi
	return 1
}
# req_rdma: an RDMA device (soft-RoCE rxe0, set up by the area).
req_rdma() {
	ibv_devices 2>/dev/null | grep -q -w rxe0 && return 0
	echo "no RDMA device rxe0"
	return 1
}
# req_stock_kernel: not the debug kernel. For tests that repeat, through
# another trigger, what other tests already cover, and cost several times
# as much under the debug kernel's checkers.
req_stock_kernel() {
	[ "$(kernel_field "${P2P_KERNEL:-}" kind)" != ours ] && return 0
	echo "a repeat of covered paths, left to the stock kernels: each cycle costs several times as much on the debug kernel"
	return 1
}
# req_vm WHAT: the test VM, for WHAT of its emulated topology (not under
# make check HOST=1, which runs on a machine's own devices).
req_vm() {
	[ "${P2P_VM:-0}" = 1 ] && return 0
	echo "needs the test VM's $1 (make check without HOST=1)"
	return 1
}
# req_kernel_glob GLOB: the kernel of the matrix is GLOB (host-side tests).
req_kernel_glob() {
	# shellcheck disable=SC2053 # a pattern on purpose
	[[ $P2P_KERNEL == $1 ]] && return 0
	echo "only for kernels $1"
	return 1
}
# req_no_odp: rxe0 has no on-demand paging (Debian's 6.x), so a refusal
# of it is there to be explained.
req_no_odp() {
	rxe_has_odp || return 0
	echo "rxe0 on $(uname -r) has on-demand paging"
	return 1
}
