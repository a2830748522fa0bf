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
case "$op" in
unplug) req="{\"op\": \"unplug\", \"id\": \"$id\", \"wait\": $wait, \"timeout\": $timeout}" ;;
plug|status) req="{\"op\": \"$op\", \"id\": \"$id\"}" ;;
*) echo "usage: hotplug unplug|plug|status [--id ID] (see tests/vm/hotplug --help)" >&2; exit 2 ;;
esac

exec 3<>"$port" || { echo "hotplug $op: cannot open $port" >&2; exit 1; }
# Raw mode once per boot (it stays set); every program started costs
# time in a slow guest, so this script starts only this one.
raw_done=/run/p2p-hotplug-raw
if [ ! -e "$raw_done" ]; then
	stty -F "$port" raw -echo || exit 1
	: >"$raw_done"
fi
# Drop anything left over in the input, then ask and read the one answer.
while IFS= read -r -t 0.05 -u 3 _; do :; done
printf '%s\n' "$req" >&3
reply=""
while [ -z "$reply" ]; do
	IFS= read -r -u 3 reply || { echo "hotplug $op: control port closed" >&2; exit 1; }
	reply=${reply%$'\r'}
	case "$reply" in "{"*) ;; *) reply="" ;; esac
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
