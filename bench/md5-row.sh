#!/usr/bin/env bash
# The canonical benchmark's md5 row alone (issues 15, 17; session 8): this
# checkout's node_modules untarred once into each variant, then each round, on
# each variant in turn (the order rotates), a fresh mount and
# `find DIR -type f -print0 | xargs -0 md5sum`, the lower files in the page
# cache as in canonical.sh. Wall and daemon CPU seconds, medians of ROUNDS.
# Usage: bench/md5-row.sh [ROUNDS]   (root; default 5; writes bench/results/md5-row-*.md)
#   BEFORE=REV  also homecrypt built from revision REV ("before"); BEFORE2=REV a second one
#   CROSS=1     also this checkout on a volume made by BEFORE's init ("cross"): the code
#               and the volume format told apart
#   COUNTS=1    a pass per homecrypt build: FUSE requests per opcode (bench/bridge-serve.mjs)
#   STRACE=1    a pass per homecrypt build: the daemon's system calls (`strace -c -f`)
#   PROF=DIR    a pass per homecrypt build: a `node --cpu-prof` profile of the daemon in DIR/VARIANT
#   WARM=1      a warm daemon: each round md5s a second copy of the tree on the same mount first
#               (its own files, so the measured tree's kernel caches stay cold), then the tree
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROUNDS=${1:-5}
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
VARIANTS=(homecrypt)
. bench/lib/variants.sh
bench_init
mkdir -p "$APP/bench" && cp bench/bridge-serve.mjs "$APP/bench/" # for COUNTS

NM=$(readlink -f node_modules)
tree_tar "$NM"
md5() { sh -c "find '$1' -type f -print0 | xargs -0 md5sum" >/dev/null; }

for v in "${VARIANTS[@]}"; do
  d=$(setup "$v"); mnt "$v"; tar -xf "$TAR" -C "$d"
  [ -n "${WARM:-}" ] && mkdir -p "$d/.warm" && tar -xf "$TAR" -C "$d/.warm"
done
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg) START=$(date -u +%H:%M)
for round in $(seq 1 "$ROUNDS"); do
  for v in $(rotation "$round"); do
    d=$(setup "$v"); mnt "$v"
    if [ -n "${WARM:-}" ]; then
      md5 "$d/.warm"
      tc "$v" md5 md5 "$d/node_modules"
    else
      tc "$v" md5 md5 "$d"
    fi
    printf '  %s: %.2f s, daemon CPU %.2f s\n' "$v" "${R[$v,md5,$round]}" "${C[$v,md5,$round]}" >&2
  done
  echo "round $round done ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg) END=$(date -u +%H:%M)
medians md5

declare -A SC CN
for v in "${VARIANTS[@]}"; do
  d=$(setup "$v") app=$(dirname "$(dirname "$(hc_of "$v")")")
  if [ -n "${STRACE:-}" ]; then
    mnt "$v"
    traced "$W/strace-$v.txt" "$v" md5 "$d"
    SC[$v]=$(awk '$4 ~ /^[0-9]+$/ && $NF != "total" { printf "%s %s, ", $NF, $4 } $NF == "total" { printf "total %s", $4 }' "$W/strace-$v.txt")
  fi
  if [ -n "${PROF:-}" ]; then
    "$(hc_of "$v")" umount "$W/$v/mnt"
    echo "$PASS" | node --cpu-prof --cpu-prof-dir="$PROF/$v" "$app/bin/homecrypt" mount "$W/$v/lower" "$W/$v/mnt" \
      --passphrase-fd 0 --foreground >/dev/null 2>&1 & fg=$!
    for _ in $(seq 100); do mountpoint -q "$W/$v/mnt" && break; sleep 0.1; done
    md5 "$d"; fusermount -u "$W/$v/mnt"; wait "$fg" || true
  fi
  if [ -n "${COUNTS:-}" ] && [ "$v" != cross ]; then # bridge-serve makes its own (current-format) volume
    cm=$W/counts-$v/mnt; mkdir -p "$cm"
    for pass in fill md5; do
      HOMECRYPT_BRIDGE_STATS=1 HOMECRYPT_BRIDGE_TIMEOUT=60 node "$app/bench/bridge-serve.mjs" kernel homecrypt "$W/counts-$v/lower" "$cm" \
        >/dev/null 2>"$W/counts-$v.err" & sp=$!
      for _ in $(seq 600); do mountpoint -q "$cm" && break; sleep 0.1; done
      if [ $pass = fill ]; then tar -xf "$TAR" -C "$cm"; else md5 "$cm"; fi
      fusermount -u "$cm"; wait "$sp" || true
    done
    CN[$v]=$(grep '^{' "$W/counts-$v.err" | tail -1)
  fi
  "$(hc_of "$v")" umount "$W/$v/mnt" 2>/dev/null || true
done

out=bench/results/md5-row-$(date -u +%Y%m%dT%H%MZ).md
mkdir -p bench/results
{
  echo "bench/md5-row.sh, $(date -u +%Y-%m-%d) $START–$END UTC, $(nproc) CPUs, median of $ROUNDS interleaved round(s), $NFILES files."
  echo "Load average (1/5/15 min) at start $LOAD0, at end $LOAD1."
  [ -n "${OLD:-}" ] && revisions
  echo
  rounds_table md5
  for v in "${VARIANTS[@]}"; do
    [ -n "${SC[$v]:-}" ] && echo && echo "- $v, system calls of one pass (\`strace -c -f\`): ${SC[$v]}"
    [ -n "${CN[$v]:-}" ] && echo && echo "- $v, FUSE requests of one pass: ${CN[$v]}"
  done
  failed_list
} | tee "$out"
echo "(saved to $out)" >&2
