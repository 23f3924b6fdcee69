#!/usr/bin/env bash
# home.sh's untar row alone (issue 19, session 22): the Debian
# /usr/lib/python3.11 tree untarred into a fresh mount of an empty volume, for
# homecrypt (this checkout) and "before" (BEFORE=REV), interleaved, ROUNDS
# rounds, medians of the wall time and of the daemon's CPU seconds. The row
# is 1,406 creates with 3 SETATTRs each (tar's chmod, chown and mtime), so it
# shows what a create or a SETATTR costs the daemon.
#   STRACE=1    one more pass per variant with the daemon under `strace -c -f`
#               (its lower system calls: the summary goes into the results)
#   UNTAR_VARIANTS="securefs homecrypt"  other variants too (bench/lib/variants.sh)
# Usage: bench/untar-row.sh [ROUNDS]   (root; default 5; writes bench/results/untar-row-*.md)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROUNDS=${1:-5}
SRC=/usr/lib/python3.11
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
[ -d "$SRC" ] || { echo "bench: $SRC missing (apt-get install python3)" >&2; exit 1; }
read -r -a VARIANTS <<< "${UNTAR_VARIANTS:-homecrypt}"
. bench/lib/variants.sh
bench_init

tree_tar "$SRC"
untar_row() { tar -xf "$TAR" -C "$1"; }
fresh() { # VARIANT DIR: an empty folder, then a fresh mount
  local v=$1 d=$2
  mnt "$v"
  rm -rf "${d:?}/$TREE"
  mnt "$v"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u +%H:%M)
declare -A RLOAD
for round in $(seq 1 "$ROUNDS"); do
  RLOAD[$round]=$(cut -d' ' -f1 /proc/loadavg)
  for v in $(rotation "$round"); do
    d=$(setup "$v")
    fresh "$v" "$d"
    tc "$v" untar untar_row "$d"
    echo "  $v: ${R[$v,untar,$round]} s, daemon CPU ${C[$v,untar,$round]} s" >&2
  done
  echo "round $round done ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
END=$(date -u +%H:%M)
medians untar

is_hc() { [ "$1" = homecrypt ] || [ "$1" = before ]; }
declare -A SC
if [ "${STRACE:-}" = 1 ]; then
  for v in "${VARIANTS[@]}"; do
    is_hc "$v" || continue
    d=$(setup "$v")
    fresh "$v" "$d"
    traced "$W/strace-$v.txt" "$v" untar_row "$d"
    SC[$v]=$W/strace-$v.txt
  done
fi

for v in "${VARIANTS[@]}"; do is_hc "$v" && { "$(hc_of "$v")" umount "$W/$v/mnt" 2>/dev/null || true; }; done
{
  echo "bench/untar-row.sh, $(date -u +%Y-%m-%d) $START–$END UTC, $(nproc) CPUs, median of $ROUNDS interleaved round(s)."
  echo "Load average (1/5/15 min) at start $LOAD0, at end $LOAD1; 1-min load at each round's start: $(for r in $(seq 1 "$ROUNDS"); do printf '%s ' "${RLOAD[$r]}"; done)"
  echo "Tree: $SRC, $NFILES files and links, $(du -sh "$TAR" | cut -f1) tar."
  [ -n "${OLD:-}" ] && revisions
  echo
  rounds_table untar
  if [ -n "${OLD:-}" ]; then
    awk -v w0="${M[before,untar]}" -v w1="${M[homecrypt,untar]}" -v c0="${MC[before,untar]}" -v c1="${MC[homecrypt,untar]}" \
      'BEGIN { printf "\nhomecrypt / before: wall %.2f, daemon CPU %.2f\n", (w0 > 0 ? w1 / w0 : 0), (c0 > 0 ? c1 / c0 : 0) }'
  fi
  if [ "${STRACE:-}" = 1 ]; then
    echo
    echo "Daemon system calls during one row (\`strace -c -f\`; a pass apart, strace slows the daemon), per file of the tree:"
    echo
    args=(); for v in "${VARIANTS[@]}"; do is_hc "$v" && args+=("$v" "${SC[$v]}"); done
    strace_table "$NFILES" "${args[@]}"
  fi
  failed_list
} | tee "$W/result.md"
mkdir -p bench/results
cp "$W/result.md" "bench/results/untar-row-$(date -u +%Y%m%dT%H%MZ).md"
