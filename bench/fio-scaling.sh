#!/usr/bin/env bash
# How 4 KiB random I/O grows with the number of processes at once (issue 19,
# "more than one thread"): fio randread and randwrite with 1, 2 and 4 jobs, each
# job its own FIO_MB file, on plain, gocryptfs, securefs and homecrypt (and
# "before" with BEFORE=REV), interleaved, ROUNDS rounds, medians of IOPS and of
# the daemon's CPU microseconds per request. The fio settings are home.sh's
# (buffered psync, one pass in random order, the file's cache dropped first).
# Usage: bench/fio-scaling.sh [ROUNDS]   (root; default 3; writes bench/results/fio-scaling-*.md)
#   JOBS="1 2 4"  the job counts;  FIO_MB=N  each job's file in MiB (default 32);  FIO_VARIANTS="securefs homecrypt"  a subset
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROUNDS=${1:-3}
FIO_MB=${FIO_MB:-32}
JOBS=${JOBS:-1 2 4}
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
command -v fio >/dev/null || { echo "bench: fio missing (./run deps)" >&2; exit 1; }
read -r -a VARIANTS <<< "${FIO_VARIANTS:-plain gocryptfs securefs homecrypt}"
. bench/lib/variants.sh
bench_init

fio_args() { echo --directory="$1/fio" --name=j --numjobs="$2" --size="${FIO_MB}m" --bs=4k --ioengine=psync \
  --fallocate=none --invalidate=1 --group_reporting --runtime=60; }
iops() { python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["jobs"][0][sys.argv[2]]["iops"]))' "$1" "$2"; }
PHASES=()
for j in $JOBS; do PHASES+=("randread$j" "randwrite$j"); done

one() { # VARIANT: every job count, randread then randwrite, each on a fresh mount
  local v=$1 d j
  d=$(setup "$v")
  for j in $JOBS; do
    mnt "$v"
    mkdir -p "$d/fio"
    # shellcheck disable=SC2046
    fio $(fio_args "$d" "$j") --rw=randread --create_only=1 >/dev/null
    mnt "$v"
    # shellcheck disable=SC2046
    tc "$v" "randread$j" fio $(fio_args "$d" "$j") --rw=randread --output-format=json --output="$W/fio.json"
    R[$v,randread$j,$round]=$(iops "$W/fio.json" read)
    mnt "$v"
    # shellcheck disable=SC2046
    tc "$v" "randwrite$j" fio $(fio_args "$d" "$j") --rw=randwrite --output-format=json --output="$W/fio.json"
    R[$v,randwrite$j,$round]=$(iops "$W/fio.json" write)
    rm -rf "$d/fio"
  done
  echo "  $v: $(for p in "${PHASES[@]}"; do printf '%s %s  ' "$p" "${R[$v,$p,$round]}"; done)" >&2
}

each_round one
medians "${PHASES[@]}"

out=bench/results/fio-scaling-$(date -u +%Y%m%dT%H%MZ).md
mkdir -p bench/results
{
  echo "bench/fio-scaling.sh, $(date -u +%Y-%m-%d) $START–$END UTC, $(nproc) CPUs, $(uname -r), median of $ROUNDS interleaved round(s), ${FIO_MB} MiB a job."
  echo "Load average (1/5/15 min) at start $LOAD0, at end $LOAD1."
  [ -n "${OLD:-}" ] && { echo; revisions; }
  echo
  echo "IOPS (thousands), and the daemon's CPU µs per request (user + system, all threads) in brackets:"
  echo
  hdr="| row |"; sep="|---|"
  for v in "${VARIANTS[@]}"; do hdr+=" $v |"; sep+="---|"; done
  echo "$hdr"; echo "$sep"
  for p in "${PHASES[@]}"; do
    j=${p//[!0-9]/}
    line="| ${p%%[0-9]*}, $j job$([ "$j" = 1 ] || echo s) |"
    for v in "${VARIANTS[@]}"; do
      line+=" $(awk -v x="${M[$v,$p]}" -v c="${MC[$v,$p]}" -v n="$(( j * FIO_MB * 256 ))" -v v="$v" 'BEGIN {
        printf "%.1fk", x / 1000; if (v != "plain") printf " (%.0f)", c * 1e6 / n }') |"
    done
    echo "$line"
  done
} | tee "$out"
echo "(saved to $out)" >&2
