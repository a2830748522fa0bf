# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Shell helpers for scripts that run inside the test VM (tests, demo,
# benchmarks): waiting, the p2p_pgmap device, hot-plug, holders of device
# memory, soft-RoCE and perftest. Results: tests/lib/ktap.sh.
#
# A helper answers with its status and, where it finds something, prints
# it (callers take it with $(...), a fork but no program start). Those
# that leave state behind say so: klog, flowing, start_holder (its
# process runs on in the background: its pid is needed later) and
# perftest_run (the client's output is a file).
#
# Waiting
#   nap SECS                 sleep without starting a program
#   wait_secs N CMD...       retry CMD for up to N seconds of wall time
#   wait_for CMD...          wait_secs 10
#   gone PID                 process PID has ended
#   all_gone PID...          none of them runs any more
#   stop_pids PID...         SIGTERM, then SIGKILL after 10 s, and reap
# The device and the kernel
#   ivshmem_bdf              print the first ivshmem device's PCI address
#   ivshmem_bdfs             print every ivshmem device's, in address order
#   node, no_node            /dev/p2p_pgmap0 is there / is not
#   attr NAME                print p2p_pgmap0's sysfs attribute NAME
#   none_in_use [DIR]        no folio of the device is in use
#   settled [DIR]            ... and its state is live
#   reads_zeroes DEV LEN     a new mapping of DEV reads only zeroes
#   p2pdma_core_stock        the kernel has P2PDMA, but not our series
#   pin_refused              print why GUP refuses long-term pins here
#   klog                     the kernel log into the array klog (its result)
#   klog_last TEXT           print the last kernel log line holding TEXT
# Hot-plug
#   replug                   the device is back, bound and settled
#   unplug_ends PID SECS     the background unplug PID succeeds in time
#   unplug_stuck             print the guest's side of a stuck remove
#   removed_line BDF         print the driver's account of BDF's last remove
#   removed_after_free_us BDF  print its time from last folio freed to end
# Holders of device memory (p2p_pgmap_holder)
#   start_holder ARGS...     start one in the background; its results:
#                            holder_pid, and holder_out (its output file)
#   holder_said GLOB         a line of its output matches GLOB
#   holder_named             print the log line of remove naming it
#   has_line FILE GLOB       a line of FILE matches GLOB
# Owners and placement
#   owner_line PID [DIR]     print PID's line of the device's owners file
#   no_owner PID [DIR]       PID has no such line
#   placement_runs TEXT      print "REL BAR LEN" per "placement:" line
#   huge_mapped NAME TEXT    a result: the buffer was mapped huge
# RDMA and perftest
#   setup_rxe                soft-RoCE device rxe0 on eth0
#   tcp_listening PORT       some socket listens on TCP PORT
#   traffic_count DEV        print the packets RDMA device DEV has sent
#   flowing DEV              DEV's traffic moved since flow_last, which it
#                            updates (the caller sets it first: the state
#                            a wait_secs loop keeps between calls)
#   perftest_run CMD...      a perftest server and client here; the
#                            client's output is in the file $perftest_out
#   perftest_bw              print the last run's average bandwidth (MB/s)

guest_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# In the guest, straight to the shell side of tests/vm/hotplug.
hotplug=$guest_lib_dir/../vm/hotplug
[ "${P2P_VM:-0}" = 1 ] && hotplug=$guest_lib_dir/hotplug.sh

# nap SECS: sleep without starting a program. Under emulation on the debug
# kernel each program start costs about a third of a second, which made
# every "sleep 0.1" of a polling loop a sleep of 0.4 s. A read with a
# timeout from a pipe that nobody writes to waits just as long; the pipe is
# opened read-write, so it never reads end-of-file.
nap_fd=""
nap() {
	if [ -z "$nap_fd" ]; then
		exec {nap_fd}<> <(:)
		[ -n "$nap_fd" ] || { sleep "$1"; return 0; }
	fi
	read -r -t "$1" -u "$nap_fd" _ || :
}
# wait_secs N CMD...: retry CMD for up to N seconds of wall time (a count
# of tries would stretch without bound when busy processes starve this
# shell on a slow guest). Between tries it naps 0.1 s, or as long as the
# try took when that was longer: a check that starts programs costs a
# guest under emulation far more than 0.1 s, and checking back to back
# would take the vCPUs from the very work it waits for.
wait_secs() {
	local end=$((${EPOCHREALTIME/./} + $1 * 1000000)) t0 us
	shift
	while :; do
		t0=${EPOCHREALTIME/./}
		"$@" && return 0
		[ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1
		us=$((${EPOCHREALTIME/./} - t0))
		[ "$us" -ge 100000 ] || us=100000
		printf -v us '%d.%06d' $((us / 1000000)) $((us % 1000000))
		nap "$us"
	done
}
# wait_for CMD...: up to 10 s (device nodes and sysfs appear a moment after
# the event that creates them).
wait_for() { wait_secs 10 "$@"; }

# The emulated device and the driver's view of it.
# ivshmem_bdf: the device tests unbind and rebind: P2P_DEVICE outside the
# test VM (make check HOST=1), else the VM's first ivshmem device.
ivshmem_bdf() {
	[ -n "${P2P_DEVICE:-}" ] && { echo "$P2P_DEVICE"; return; }
	ivshmem_bdfs | head -n 1
}
# ivshmem_bdfs: every ivshmem device's PCI address, one per line, in
# address order (lspci's).
ivshmem_bdfs() { lspci -D -n -d 1af4:1110 | awk '{print $1}'; }
node() { [ -c /dev/p2p_pgmap0 ]; }
no_node() { [ ! -e /dev/p2p_pgmap0 ]; }
# Checks below that run in polling loops read files with bash's own read
# and search with its own pattern matching: on the debug kernel under
# emulation each program start costs about a third of a second, and a
# "dmesg | grep | tail" three of them.
attr_dir=/sys/class/p2p_pgmap_cdev/p2p_pgmap0/device/p2p_pgmap
attr() { local v; read -r v <"$attr_dir/$1" && echo "$v"; }

# p2pdma_core_stock: this kernel has the P2PDMA core (it exports
# pci_p2pdma_add_resource()) but not our series (which also exports
# pci_p2pdma_add_pagemap()): Debian's stock 7.3 is such a kernel.
p2pdma_core_stock() {
	grep -q ' pci_p2pdma_add_resource$' /proc/kallsyms &&
		! grep -q ' pci_p2pdma_add_pagemap$' /proc/kallsyms
}
# pin_refused: print why and succeed when this kernel cannot register
# device memory with plain ibv_reg_mr: on a stock P2PDMA kernel GUP
# refuses long-term pins of P2PDMA pages (patches/revocable-pins allow them).
pin_refused() {
	p2pdma_core_stock || return 1
	echo "GUP refuses long-term pins of P2PDMA pages on a P2PDMA kernel without patches/revocable-pins"
}

# klog: the kernel log, one line per element of the array klog (one
# program start). Through a file, not a pipe: from a pipe, mapfile reads a
# byte per system call, which took seconds for the debug kernel's log.
# klog_last TEXT: print the last line that holds TEXT (false, printing
# nothing, when there is none).
klog() { dmesg >/tmp/p2p-klog && mapfile -t klog </tmp/p2p-klog; }
klog_last() {
	local i
	klog
	for ((i = ${#klog[@]} - 1; i >= 0; i--)); do
		[[ ${klog[i]} == *"$1"* ]] && { echo "${klog[i]}"; return 0; }
	done
	return 1
}
# removed_line BDF: print the driver's account of the last remove of BDF
# ("removed in T us: revoke R us, wait for users W us, unmap U us..."),
# false when there is none.
removed_line() { klog_last "p2p_pgmap $1: removed in"; }
# removed_after_free_us BDF: from that line, the time from the last folio
# freed to the end of remove (empty when no folio was in use).
removed_after_free_us() {
	local line
	line=$(removed_line "$1") &&
		[[ $line =~ done\ ([0-9]+)\ us\ after\ the\ last\ folio ]] &&
		echo "${BASH_REMATCH[1]}"
}

# none_in_use [DIR]: no folio of the device is in use; settled [DIR]: and
# it is live. DIR is the device's p2p_pgmap sysfs folder (default: that of
# p2p_pgmap0).
none_in_use() { local n; read -r n <"${1:-$attr_dir}/folios_in_use" && [ "$n" = 0 ]; }
settled() {
	local s
	none_in_use "${1:-$attr_dir}" && read -r s <"${1:-$attr_dir}/state" && [ "$s" = live ]
}
# unplug_ends PID SECS: the unplug running in the background as PID ends
# within SECS seconds and succeeds. When it has not ended by then, the
# guest's side of the remove is shown as comments (unplug_stuck) and the
# result is false at once, so that a stuck remove fails its own test with
# a reason rather than the area's guest with a timeout; the unplug goes on.
unplug_ends() {
	local pid=$1
	if wait_secs "$2" gone "$pid"; then
		wait "$pid"
		return
	fi
	diag "the unplug has not ended after $2 s; the guest then:"
	unplug_stuck | sed 's/^/#   /'
	return 1
}
gone() { ! kill -0 "$1" 2>/dev/null; }
# unplug_stuck: what tells a remove that never started (the eject request
# lost on its way to the guest: its driver still bound, its state live)
# from one that waits (no driver, state dying): each ivshmem device and
# its driver's state, the owners of its memory, the tasks in D state
# with their kernel stacks, and the last hot-plug and p2p_pgmap messages.
unplug_stuck() {
	local d f s stat i n
	for d in /sys/bus/pci/devices/*; do
		read -r s <"$d/vendor" 2>/dev/null || continue
		read -r n <"$d/device" 2>/dev/null || continue
		[ "$s:$n" = 0x1af4:0x1110 ] || continue
		# A remove under way has already unlinked the driver.
		s=$(readlink "$d/driver" 2>/dev/null) || s="none (being removed, or unbound)"
		echo "device ${d##*/}: driver ${s##*/}"
		for f in state folios_in_use owners; do
			[ -r "$d/p2p_pgmap/$f" ] && sed "s/^/  $f: /" "$d/p2p_pgmap/$f"
		done
	done
	for d in /proc/[0-9]*; do
		read -r stat <"$d/stat" 2>/dev/null || continue
		# The state follows the command's closing parenthesis.
		[[ ${stat##*) } == D* ]] || continue
		s=${stat#*\(}
		echo "task ${d#/proc/} (${s%)*}) in D state:"
		sed 's/^/  /' "$d/stack" 2>/dev/null
	done
	klog
	for ((i = ${#klog[@]} - 1, n = 0; i >= 0 && n < 15; i--)); do
		[[ ${klog[i]} =~ p2p_pgmap|pciehp|acpiphp|ACPI|pci\ 0000 ]] || continue
		echo "${klog[i]}"
		n=$((n + 1))
	done | tac
}
# replug: after an unplug, the device comes back, the driver binds it again
# and nothing of it is in use.
replug() { "$hotplug" plug >/dev/null && wait_for node && settled "$attr_dir"; }

# start_holder ARGS...: a p2p_pgmap_holder in the background, once ready.
# Its results, for the helpers below and the caller: holder_pid, and
# holder_out (the file of its output). holder_said GLOB: it said so.
start_holder() {
	holder_out=$(mktemp)
	p2p_pgmap_holder "$@" >"$holder_out" 2>&1 &
	holder_pid=$!
	wait_for has_line "$holder_out" 'ready*'
}
# has_line FILE GLOB: some line of FILE matches GLOB as a whole.
has_line() {
	local l
	while IFS= read -r l; do
		# shellcheck disable=SC2053 # $2 is a pattern on purpose
		[[ $l == $2 ]] && return 0
	done <"$1"
	return 1
}
holder_said() { has_line "$holder_out" "$1"; }
# holder_named: the driver's report, while remove waits, names the holder
# as the process that opened the file whose memory is held (first after
# 2 s, then every 10 s); prints that line.
holder_named() { klog_last "opened by pid $holder_pid (p2p_pgmap_hold"; }

# owner_line PID [DIR]: print the line of the device's owners file for
# the file PID opened (see README, "sysfs"); false when none. no_owner
# PID [DIR]: there is none.
owner_line() {
	local l
	while IFS= read -r l; do
		[[ $l == "pid=$1 "* ]] && { echo "$l"; return 0; }
	done <"${2:-$attr_dir}/owners"
	return 1
}
no_owner() { ! owner_line "$@" >/dev/null; }

# placement_runs TEXT: the "placement: buf+REL bar BAR len LEN" lines that
# p2p_dio and p2p_rdma_rw print (where the driver placed their buffer in
# the BAR), as "REL BAR LEN" lines.
placement_runs() {
	local line
	while IFS= read -r line; do
		[[ $line =~ ^placement:\ buf\+([0-9]+)\ bar\ ([0-9]+)\ len\ ([0-9]+)$ ]] &&
			echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]}"
	done <<<"$1"
	return 0
}
# huge_mapped NAME TEXT: one result, from the "huge: B of L bytes mapped
# huge (large folios yes|no)" line that p2p_dio and p2p_rdma_rw print:
# all of the buffer was mapped huge where the kernel has large folios; a
# skip, saying why, where it has not.
huge_mapped() {
	local line
	line=$(grep -m1 '^huge: ' <<<"$2")
	if [[ $line == *"(large folios no)" ]]; then
		skip "$1" "folios are one page on this kernel: no huge mappings"
	elif [[ $line =~ ^huge:\ ([0-9]+)\ of\ ([0-9]+)\ bytes ]] &&
		[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]; then
		pass "$1"
	else
		diag "${line:-no huge: line}"
		fail "$1"
	fi
}
# reads_zeroes DEV LEN: a new open of DEV, mapping LEN bytes at offset 0,
# reads nothing but zeroes.
reads_zeroes() {
	python3 - "$1" "$2" <<'PY'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, int(sys.argv[2]), mmap.MAP_SHARED)
data = m[:]
bad = len(data) - data.count(0)
if bad:
    print("# %d of %d bytes are not zero, e.g. %#x" % (bad, len(data), max(data)))
sys.exit(1 if bad else 0)
PY
}

# all_gone PID...: none of them runs any more.
all_gone() {
	local p
	for p; do kill -0 "$p" 2>/dev/null && return 1; done
	return 0
}
# stop_pids PID...: SIGTERM, and SIGKILL what is still there after 10 s
# (perftest ignores SIGINT while it runs).
stop_pids() {
	kill -TERM "$@" 2>/dev/null
	wait_secs 10 all_gone "$@" || kill -KILL "$@" 2>/dev/null
	wait "$@" 2>/dev/null
}
# traffic_count DEV: packets RDMA device DEV has sent so far (soft-RoCE's
# hw_counters, or the port's standard transmit counter), read without
# starting a program.
traffic_count() {
	local f n=0
	for f in /sys/class/infiniband/"$1"/ports/1/hw_counters/sent_pkts \
		/sys/class/infiniband/"$1"/ports/1/counters/port_xmit_data; do
		[ -r "$f" ] && read -r n <"$f" 2>/dev/null && break
	done
	echo "$n"
}
# flowing DEV: DEV's traffic moved since the caller last set flow_last
# (to traffic_count's answer) or since the last call; the new count is
# left in flow_last, the state a waiting loop (wait_secs N flowing DEV)
# keeps between calls.
flowing() {
	local n
	n=$(traffic_count "$1")
	[ "$n" -gt "$flow_last" ] && flow_last=$n
}

# setup_rxe: soft-RoCE device rxe0 on the VM's network interface.
setup_rxe() {
	modprobe rdma_rxe && rdma link add rxe0 type rxe netdev eth0 &&
		wait_for ibv_devinfo -d rxe0
}

# tcp_listening PORT: some socket listens on TCP PORT (state 0A in
# /proc/net/tcp, or tcp6 where the kernel has IPv6: the debug kernel
# does not).
tcp_listening() {
	local hex f _sl local_addr _rem state _rest
	printf -v hex '%04X' "$1"
	for f in /proc/net/tcp /proc/net/tcp6; do
		[ -r "$f" ] || continue
		while read -r _sl local_addr _rem state _rest; do
			[[ $local_addr == *":$hex" && $state == 0A ]] && return 0
		done <"$f"
	done
	return 1
}
# perftest_run CMD...: a perftest server and client (CMD, then CMD plus
# the server's address) in this guest, on perftest's default port. The
# client starts once the server listens (a fixed sleep lost that race on a
# loaded machine). The client's output is left in the file $perftest_out
# (the result, which perftest_bw reads); fails if either side does.
#
# Runs once more, saying so, when a side failed only for want of a clock
# (the emulator descheduled the vCPU while perftest measured its clock:
# tests/vm/quirks, descheduled-clock).
perftest_out=/tmp/perftest.out
perftest_port=18515
# perftest_ready PID: the server listens, or has already exited.
perftest_ready() { tcp_listening "$perftest_port" || ! kill -0 "$1" 2>/dev/null; }
perftest_run() {
	perftest_once "$@" && return 0
	has_line "$perftest_out" '*Correlation coefficient r^2*' ||
		has_line /tmp/perftest-server.out '*Correlation coefficient r^2*' ||
		return 1
	echo "# perftest could not measure the CPU clock (the vCPU was descheduled); once more" >&2
	perftest_once "$@"
}
perftest_once() {
	local server rc
	"$@" >/tmp/perftest-server.out 2>&1 &
	server=$!
	if ! wait_secs 60 perftest_ready "$server" ||
	    ! tcp_listening "$perftest_port"; then
		echo "perftest server never listened on port $perftest_port" \
			>"$perftest_out"
		kill "$server" 2>/dev/null
		wait "$server"
		return 1
	fi
	"$@" 127.0.0.1 >"$perftest_out" 2>&1
	rc=$?
	wait "$server" || rc=1
	return $rc
}
# perftest_bw: the average bandwidth (MB/s) of the last perftest_run.
perftest_bw() { awk '/^ *[0-9]+ +[0-9]+ / {print $4}' "$perftest_out" | tail -n 1; }
