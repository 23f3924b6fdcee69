#!/usr/bin/env bash
# The small-write rows of home.sh one at a time, with what each costs the
# daemon (issue 19, session 6): N committed sqlite inserts and a 1-job fio 4k
# randwrite over an existing file, on homecrypt (this checkout) and "before"
# (BEFORE=REV), interleaved, ROUNDS rounds, medians. For each: wall time, the
# daemon's CPU µs per insert / per write, and with STRACE=1 the daemon's lower
# system calls per insert / per write (`strace -c -f`, a separate pass: strace
# slows the daemon). PROF=DIR writes a `node --cpu-prof` profile of the daemon
# for each row and variant into DIR (a foreground mount; a separate pass too).
# Usage: bench/small-writes.sh [ROUNDS]   (root; default 3)
#   INSERTS=N (default 300)  FIO_MB=N (default 8)  BEFORE=REV  STRACE=1  PROF=DIR
#   FLOOR=1 NORECORDS=1 NOXATTRS=1 SYNCFSYNC=1: the measuring variants of bench/lib/variants.sh
#   in the same rounds (the floor is not Node's homecrypt: no PROF pass for it)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROUNDS=${1:-3}
INSERTS=${INSERTS:-300}
FIO_MB=${FIO_MB:-8}
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
VARIANTS=(homecrypt)
. bench/lib/variants.sh
bench_init

SQL=$W/inserts.sql
{ echo "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
  for i in $(seq "$INSERTS"); do echo "INSERT INTO t(v) VALUES('row $i of the benchmark, some text to store');"; done; } > "$SQL"
WRITES=$((FIO_MB * 256))
fio_args() { echo --directory="$1/fio" --name=j --numjobs=1 --size="${FIO_MB}m" --bs=4k --ioengine=psync \
  --fallocate=none --invalidate=1 --group_reporting --runtime=60; }
PHASES=(sqlite randwrite)

# row VARIANT DIR PHASE: runs one row against the mounted variant
row() {
  local v=$1 d=$2 p=$3
  case $p in
    sqlite) rm -f "$d/db.sqlite"; tc "$v" sqlite sh -c "sqlite3 '$d/db.sqlite' < '$SQL'" ;;
    randwrite)
      # shellcheck disable=SC2046
      tc "$v" randwrite fio $(fio_args "$d") --rw=randwrite ;;
  esac
}

prep() { # VARIANT DIR PHASE: what a row needs before it (untimed, then a fresh mount)
  local v=$1 d=$2 p=$3
  if [ "$p" = randwrite ]; then
    rm -rf "$d/fio"; mkdir -p "$d/fio"
    # shellcheck disable=SC2046
    fio $(fio_args "$d") --rw=randwrite --create_only=1 >/dev/null
  fi
  mnt "$v"
}

one() {
  local v=$1 d p
  d=$(setup "$v")
  for p in "${PHASES[@]}"; do
    mnt "$v"; prep "$v" "$d" "$p"; row "$v" "$d" "$p"
  done
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u +%H:%M)
for round in $(seq 1 "$ROUNDS"); do
  for v in $(rotation "$round"); do one "$v"; done
  echo "round $round done ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
medians "${PHASES[@]}"

# strace pass: one more round per variant with the daemon traced
declare -A SC
if [ "${STRACE:-}" = 1 ]; then
  for v in "${VARIANTS[@]}"; do
    d=$(setup "$v")
    for p in "${PHASES[@]}"; do
      mnt "$v"; prep "$v" "$d" "$p"
      round=s traced "$W/strace-$v-$p.txt" "$v" row "$v" "$d" "$p"
      SC[$v,$p]=$W/strace-$v-$p.txt
    done
  done
fi

# profile pass: the daemon in the foreground under node --cpu-prof
if [ -n "${PROF:-}" ]; then
  mkdir -p "$PROF"
  for v in "${VARIANTS[@]}"; do
    [ "$v" = floor ] && continue
    d=$(setup "$v")
    for p in "${PHASES[@]}"; do
      "$(hc_of "$v")" umount "$W/$v/mnt" 2>/dev/null || true
      if [ "$p" = randwrite ]; then mnt "$v"; prep "$v" "$d" "$p"; "$(hc_of "$v")" umount "$W/$v/mnt"; fi
      app=$(dirname "$(dirname "$(hc_of "$v")")")
      echo "$PASS" | node --cpu-prof --cpu-prof-dir="$PROF/$v-$p" "$app/bin/homecrypt" mount "$W/$v/lower" "$W/$v/mnt" \
        --passphrase-fd 0 --foreground >/dev/null 2>&1 & fg=$!
      for _ in $(seq 100); do mountpoint -q "$W/$v/mnt" && break; sleep 0.1; done
      round=p row "$v" "$d" "$p"
      fusermount -u "$W/$v/mnt"; wait "$fg" || true
    done
  done
fi

for v in "${VARIANTS[@]}"; do "$(hc_of "$v")" umount "$W/$v/mnt" 2>/dev/null || true; done
{
  echo "bench/small-writes.sh, $(date -u +%Y-%m-%d) $START UTC, $(nproc) CPUs, median of $ROUNDS interleaved round(s); load $LOAD0 at start, $LOAD1 at end."
  [ -n "${OLD:-}" ] && revisions
  echo
  echo "| row | variant | wall s | daemon CPU s | CPU µs per op |"
  echo "|---|---|---|---|---|"
  for p in "${PHASES[@]}"; do
    ops=$INSERTS; [ "$p" = randwrite ] && ops=$WRITES
    for v in "${VARIANTS[@]}"; do
      awk -v p="$p" -v v="$v" -v w="${M[$v,$p]}" -v c="${MC[$v,$p]}" -v n="$ops" \
        'BEGIN { printf "| %s (%d ops) | %s | %.2f | %.2f | %.0f |\n", p, n, v, w, c, c * 1e6 / n }'
    done
  done
  if [ "${STRACE:-}" = 1 ]; then
    for p in "${PHASES[@]}"; do
      ops=$INSERTS; [ "$p" = randwrite ] && ops=$WRITES
      echo
      echo "Daemon system calls per op, $p ($ops ops):"
      echo
      args=(); for v in "${VARIANTS[@]}"; do args+=("$v" "${SC[$v,$p]}"); done
      strace_table "$ops" "${args[@]}"
    done
  fi
} | tee "$W/result.md"
mkdir -p bench/results
cp "$W/result.md" "bench/results/small-writes-$(date -u +%Y%m%dT%H%MZ).md"
