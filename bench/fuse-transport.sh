#!/usr/bin/env bash
# A FUSE round trip over /dev/fuse (read and write, what homecrypt's bridge
# does) against FUSE over io_uring (Linux 6.14+), with nothing else in the
# way: bench/fuse-transport.c, a C server of N empty files answering from one
# thread, and a client stat()ing them with every cache timeout 0 (a LOOKUP and
# a GETATTR per stat). The two transports alternate, ROUNDS times each.
# Turns fuse.enable_uring on for the run and puts it back after.
# Usage: bench/fuse-transport.sh [ROUNDS] [FILES]   (root; writes bench/results/fuse-transport-*.md)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root (mount, fuse.enable_uring)" >&2; exit 1; }
ROUNDS=${1:-5} FILES=${2:-2000}
PARAM=/sys/module/fuse/parameters/enable_uring
[ -w "$PARAM" ] || { echo "bench: this kernel has no FUSE over io_uring ($PARAM)" >&2; exit 1; }
W=$(mktemp -d /tmp/hc-transport-XXXXXX)
WAS=$(cat "$PARAM")
trap 'echo "$WAS" > "$PARAM"; umount -l "$W/mnt" 2>/dev/null || true; rm -rf "$W"' EXIT
gcc -O2 -Wall -o "$W/fuse-transport" bench/fuse-transport.c
mkdir "$W/mnt"
echo Y > "$PARAM"
declare -A T
START=$(date -u +%H:%M) LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
  order="dev uring"; [ $((round % 2)) = 0 ] && order="uring dev"
  for t in $order; do
    us=$("$W/fuse-transport" "$t" "$W/mnt" "$FILES" 20 | sed -E 's/.*: ([0-9.]+) us each.*/\1/')
    T[$t]+="$us "
    echo "  round $round $t: $us us a stat" >&2
  done
done
med() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
out=bench/results/fuse-transport-$(date -u +%Y%m%dT%H%MZ).md
mkdir -p bench/results
{
  echo "bench/fuse-transport.sh, $(date -u +%Y-%m-%d) $START–$(date -u +%H:%M) UTC, $(nproc) CPUs, $(uname -r), $ROUNDS alternating rounds of $FILES files × 20 passes; load average at start $LOAD0, at end $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| transport | µs per stat (LOOKUP + GETATTR), each round | median |"
  echo "|---|---|---|"
  for t in dev uring; do echo "| $t | ${T[$t]}| $(med "${T[$t]}") |"; done
  echo
  echo "uring / dev: $(echo "scale=2; $(med "${T[uring]}") / $(med "${T[dev]}")" | bc)"
} | tee "$out"
echo "(saved to $out)" >&2
