#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The guest side of tests/vm/hotplug: one request to the host over the VM's
# control port (/dev/ttyS1), answered by `tests/vm/hotplug serve` on the
# host. In shell rather than Python: a Python start costs seconds in a
# guest under KASAN and emulation, and tests unplug in loops.
#
#   hotplug-guest.sh unplug [--id ivs0] [--no-wait] [--timeout S]
#   hotplug-guest.sh plug   [--id ivs0]
#   hotplug-guest.sh status [--id ivs0]
#
# The port is one byte stream shared by every process that opens it, and
# bash reads it a byte at a time: two readers would split an answer
# between them. So requests take turns (a second one waits until the first
# has its answer or has died), each carries a tag the host sends back (an
# answer meant for a requester that was killed is skipped, not taken), and
# no request waits for ever: an answer that does not come within the
# request's own time plus a minute is an error.
set -uo pipefail
port=/dev/ttyS1
op=${1:-}
[ $# -gt 0 ] && shift
id=ivs0 wait=true timeout=600
while [ $# -gt 0 ]; do
	case "$1" in
	--id) id=$2; shift 2 ;;
	--no-wait) wait=false; shift ;;
	--timeout) timeout=$2; shift 2 ;;
	*) echo "hotplug $op: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
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

# Take the port: /run/p2p-hotplug.owner names the process that has it; it
# is free when that process is gone. Only bash builtins here: every program
# started costs time in a slow guest.
owner_file=/run/p2p-hotplug.owner
waited=0
while :; do
	owner=""
	[ -e "$owner_file" ] && read -r owner <"$owner_file"
	if [ -z "$owner" ] || [ "$owner" = $$ ] || ! kill -0 "$owner" 2>/dev/null; then
		echo $$ >"$owner_file"
		# Two takers at once: the last writer wins, the other waits.
		read -r owner <"$owner_file"
		[ "$owner" = $$ ] && break
	fi
	if [ "$waited" -ge $((answer_within * 10)) ]; then
		echo "hotplug $op: the control port is still busy with process $owner's request after $answer_within s" >&2
		exit 1
	fi
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
	[[ $reply =~ \"error\":\ \"(.*)\" ]] && reply=${BASH_REMATCH[1]}
	echo "hotplug $op: $reply" >&2
	exit 1
	;;
esac
