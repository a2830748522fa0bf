#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The guest side of tests/vm/hotplug: one request to the host over the VM's
# control port (/dev/ttyS1), answered by `tests/vm/hotplug serve` on the
# host. In shell rather than Python: a Python start costs seconds in a
# guest under KASAN and emulation, and tests unplug in loops.
#
#   hotplug.sh unplug [--id ivs0] [--no-wait] [--timeout S]
#   hotplug.sh plug   [--id ivs0]
#   hotplug.sh status [--id ivs0]
#
# The port is one byte stream shared by every process that opens it, and
# bash reads it a byte at a time: two readers would split an answer
# between them. So requests take turns (a second one waits until the first
# has its answer or has died), each carries a tag the host sends back (an
# answer meant for a requester that was killed is skipped, not taken), and
# no request waits for ever: an answer that does not come within the
# request's own time plus a minute is an error.
set -uo pipefail
case "${1:-}" in -h | --help) sed -n '2,/^[^#]/{/^#!/d;/^# SPDX/d;/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
port=/dev/ttyS1
op=${1:-}
[ $# -gt 0 ] && shift
id=ivs0 wait=true timeout=600
while [ $# -gt 0 ]; do
	case "$1" in
	--id|--timeout)
		[ $# -ge 2 ] || { echo "hotplug $op: $1 needs a value" >&2; exit 2; }
		[ "$1" = --id ] && id=$2 || timeout=$2
		shift 2 ;;
	--no-wait) wait=false; shift ;;
	*) echo "hotplug $op: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
[[ $id =~ ^[A-Za-z0-9_.-]+$ ]] ||
	{ echo "hotplug $op: '$id' is not a device id (letters, digits, '_', '.', '-')" >&2; exit 2; }
[[ $timeout =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
	{ echo "hotplug $op: --timeout takes seconds, not '$timeout'" >&2; exit 2; }
# The tag: this process and the time, unique in this guest.
tag="$$-${EPOCHREALTIME/./}"
case "$op" in
unplug)
	req="{\"op\": \"unplug\", \"id\": \"$id\", \"wait\": $wait, \"timeout\": $timeout, \"tag\": \"$tag\"}"
	answer_within=$((${timeout%.*} + 60)) ;;
plug|status)
	req="{\"op\": \"$op\", \"id\": \"$id\", \"tag\": \"$tag\"}"
	answer_within=120 ;;
*) echo "usage: hotplug unplug|plug|status [--id ID] (see tests/vm/hotplug --help)" >&2; exit 2 ;;
esac

# Take the port in turn. Each request takes the lowest free ticket, a file
# /run/p2p-hotplug.ticket.N made with O_EXCL (noclobber), so no two get
# the same one, holding its process ID; "done" replaces the ID when the
# request ends. A request goes when every ticket below its own is done or
# held by a process that is gone. Walking down from its own, a done ticket
# ends the walk: its request went only once all below it were. A ticket
# still empty is being taken: its taker has the file but has not written
# to it yet. Bash builtins only: every program started costs time in a
# slow guest.
tickets=/run/p2p-hotplug.ticket
set -C
n=0
until { echo $$ >"$tickets.$n"; } 2>/dev/null; do
	[ -e "$tickets.$n" ] || { echo "hotplug $op: cannot write $tickets.$n" >&2; exit 1; }
	n=$((n + 1))
done
set +C
ticket=$tickets.$n
trap 'echo "done" >|"$ticket"' EXIT
# is_client PID: PID is a hotplug client, not a process that was given
# the PID of one that died without marking its ticket done (SIGKILL).
is_client() {
	local arg args=()
	mapfile -d '' args <"/proc/$1/cmdline" 2>/dev/null || return 1
	for arg in "${args[@]}"; do
		[[ $arg == *hotplug* ]] && return 0
	done
	return 1
}
# turn: true when no ticket below ours is held by a live client (the
# last one seen is left in busy_with).
busy_with=""
turn() {
	local m holder
	for ((m = n - 1; m >= 0; m--)); do
		holder=""
		read -r holder <"$tickets.$m" 2>/dev/null
		[ "$holder" = "done" ] && return 0
		[ -z "$holder" ] || is_client "$holder" || continue
		busy_with="process ${holder:-taking ticket $m}"
		return 1
	done
	return 0
}
waited=0
until turn; do
	if [ "$waited" -ge $((answer_within * 10)) ]; then
		echo "hotplug $op: the control port is still busy after $answer_within s (with $busy_with)" >&2
		exit 1
	fi
	# Say once, after 10 s, whom the request waits for.
	[ "$waited" = 100 ] && echo "hotplug $op: waiting for the control port (ticket $n; $busy_with)" >&2
	# Nap 0.1 s: a read with a timeout from a pipe nobody writes to.
	[ -n "${nap_fd:-}" ] || exec {nap_fd}<> <(:)
	read -r -t 0.1 -u "$nap_fd" _
	waited=$((waited + 1))
done

exec 3<>"$port" || { echo "hotplug $op: cannot open $port" >&2; exit 1; }
# Raw mode once per boot (it stays set).
raw_done=/run/p2p-hotplug-raw
if [ ! -e "$raw_done" ]; then
	stty -F "$port" raw -echo || exit 1
	: >"$raw_done"
fi
# Drop anything left over in the input, then ask and read our answer:
# lines that are not an answer, or carry another tag, are skipped.
while IFS= read -r -t 0.05 -u 3 _; do :; done
printf '%s\n' "$req" >&3
reply=""
deadline=$((SECONDS + answer_within))
while [ -z "$reply" ]; do
	left=$((deadline - SECONDS))
	rc=142
	[ "$left" -gt 0 ] && { IFS= read -r -t "$left" -u 3 reply; rc=$?; }
	if [ "$rc" -gt 128 ]; then
		echo "hotplug $op: no answer from the host within $answer_within s" >&2
		exit 1
	elif [ "$rc" != 0 ]; then
		echo "hotplug $op: control port closed" >&2
		exit 1
	fi
	reply=${reply%$'\r'}
	case "$reply" in *"\"tag\": \"$tag\""*) ;; *) reply="" ;; esac
done
exec 3<&-

case "$reply" in
*'"ok": true'*)
	secs="" present=""
	[[ $reply =~ \"seconds\":\ ([0-9.]+) ]] && secs=${BASH_REMATCH[1]}
	[[ $reply =~ \"present\":\ (true|false) ]] && present=${BASH_REMATCH[1]}
	# The same words as the host side prints.
	if [ -n "$secs" ]; then
		echo "$op $id: done in $secs s"
	elif [ -n "$present" ]; then
		[ "$present" = true ] && echo "$id: present" || echo "$id: absent"
	else
		echo "$op $id: requested"
	fi
	;;
*)
	# The JSON string after "error": up to its closing quote.
	error_re='"error": "((\\.|[^"\\])*)"'
	[[ $reply =~ $error_re ]] && reply=${BASH_REMATCH[1]}
	echo "hotplug $op: $reply" >&2
	exit 1
	;;
esac
