#!/usr/bin/env bash
# How much of a home.sh row is the mount daemon warming up (issue 19), and what
# Node/V8 options change that. home.sh mounts again before every row, so each
# row meets a fresh Node process: its JavaScript interpreted first and compiled
# as it gets hot, its heap at V8's starting sizes. Here each row runs RUNS
# times on ONE mount, each time on its own copy of the tree (tN, untarred
# into the same mount), with the kernel's caches dropped before every run: run 1
# is home.sh's row on a fresh daemon, the later runs are the same work on a
# warm daemon. What they differ by in the daemon's CPU seconds is warm-up.
# Usage: bench/warmup.sh [ROUNDS]   (root; default 3; writes bench/results/warmup-*.md)
#   FLAGS='A|B|…'   node option sets to compare with the default (no options),
#                   in the same interleaved rounds, e.g.
#                   FLAGS='--max-semi-space-size=32|--single-threaded-gc --no-lazy-feedback-allocation'
#   RUNS=N          runs of each row on one mount (default 2)
#   ROWS='…'        of untar ls md5 git sqlite rm (default all; untar always runs: it makes the trees)
# Every daemon is `node OPTIONS bin/homecrypt mount --foreground` of a snapshot
# of this checkout's dist/ (the spawn paths give the daemon no options),
# started by this script; it is unmounted before the next row.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROUNDS=${1:-3}
RUNS=${RUNS:-2}
SRC=/usr/lib/python3.11
[ "$(id -u)" = 0 ] || { echo "bench: run as root (drop_caches, mounts)" >&2; exit 1; }
[ -d "$SRC" ] || { echo "bench: $SRC missing (apt-get install python3)" >&2; exit 1; }
for tool in sqlite3 git; do command -v $tool >/dev/null || { echo "bench: $tool missing (./run deps)" >&2; exit 1; }; done
VARIANTS=(homecrypt)
. bench/lib/variants.sh
bench_init

# the option sets: 0 is the default, then FLAGS split on '|'
SETS=("")
if [ -n "${FLAGS:-}" ]; then IFS='|' read -r -a more <<< "$FLAGS"; SETS+=("${more[@]}"); fi
NSETS=${#SETS[@]}
label() { [ -n "${SETS[$1]}" ] && echo "\`${SETS[$1]}\`" || echo "no options"; }

# the tree and the inserts of home.sh
tree_tar "$SRC"
home_workload

ALL=(untar ls md5 git sqlite rm)
read -r -a ROWS <<< "${ROWS:-${ALL[*]}}"
wants() { local r; for r in "${ROWS[@]}"; do [ "$r" = "$1" ] && return 0; done; [ "$1" = untar ]; }
declare -A LABEL=([untar]="untar" [ls]="ls -lR, cold" [md5]="md5 of every file" [git]="git init + add + commit"
  [sqlite]="sqlite, 1,000 committed inserts" [rm]="rm -rf" [start]="start to ready")

# the daemon of set S: started with its options, serving $W/sS/mnt; its pid in PID
PID=
start() {
  local s=$1 i
  mkdir -p "$W/s$s/mnt"
  [ -f "$W/s$s/lower/homecrypt.conf" ] || echo "$PASS" | "$HC" init "$W/s$s/lower" --passphrase-fd 0 --kdf-time 0.05 >/dev/null
  # shellcheck disable=SC2086 # the options are words
  echo "$PASS" | node ${SETS[$s]} "$HC" mount "$W/s$s/lower" "$W/s$s/mnt" --passphrase-fd 0 --foreground >>"$W/s$s.log" 2>&1 &
  PID=$!
  for i in $(seq 300); do
    mountpoint -q "$W/s$s/mnt" && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: the daemon of set $s ($(label "$s")) did not mount; its log:" >&2; tail -5 "$W/s$s.log" >&2; exit 1
}
stop() {
  local s=$1
  [ -n "$PID" ] || return 0
  "$HC" umount "$W/s$s/mnt" >/dev/null 2>&1 || fusermount -u -z "$W/s$s/mnt" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=
}

# run S ROW N CMD…: wall seconds into R[S,ROW,N,round], daemon CPU seconds into C[…]
run() {
  local s=$1 p=$2 n=$3 c0; shift 3
  drop_caches
  c0=$(cpu "$PID")
  R[$s,$p,$n,$round]=$(t "$@")
  C[$s,$p,$n,$round]=$(echo "$(cpu "$PID") - $c0" | bc)
}

one() { # SET: every row, each on a fresh daemon, RUNS times on it
  local s=$1 d=$W/s$1/mnt n
  start "$s"
  C[$s,start,1,$round]=$(cpu "$PID"); R[$s,start,1,$round]=0
  for n in $(seq "$RUNS"); do mkdir -p "$d/t$n"; run "$s" untar "$n" tar -xf "$TAR" -C "$d/t$n"; done
  stop "$s"
  if wants ls; then start "$s"; for n in $(seq "$RUNS"); do run "$s" ls "$n" ls -lR "$d/t$n"; done; stop "$s"; fi
  if wants md5; then start "$s"
    for n in $(seq "$RUNS"); do run "$s" md5 "$n" sh -c "find '$d/t$n/$TREE' -type f -print0 | xargs -0 md5sum"; done; stop "$s"; fi
  if wants git; then start "$s"
    for n in $(seq "$RUNS"); do
      run "$s" git "$n" sh -c "cd '$d/t$n/$TREE' && ${GIT[*]} init -q && ${GIT[*]} add -A && ${GIT[*]} commit -q -m tree"
    done; stop "$s"; fi
  if wants sqlite; then start "$s"; for n in $(seq "$RUNS"); do run "$s" sqlite "$n" sh -c "sqlite3 '$d/t$n/db.sqlite' < '$SQL'"; done; stop "$s"; fi
  start "$s"
  for n in $(seq "$RUNS"); do if wants rm; then run "$s" rm "$n" rm -rf "$d/t$n"; else rm -rf "$d/t$n"; fi; done
  stop "$s"
}

echo "bench/warmup.sh: $ROUNDS round(s) × $NSETS option set(s) × ${#ROWS[@]} rows × $RUNS runs; about $((RUNS * 30)) s a set a round" \
  "on an idle 2-CPU machine: ~$(( (ROUNDS * NSETS * RUNS * 30 + 59) / 60 )) min" >&2
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u +%H:%M)
declare -A RLOAD
for round in $(seq 1 "$ROUNDS"); do
  RLOAD[$round]=$(cut -d' ' -f1 /proc/loadavg)
  for i in $(seq 0 $((NSETS - 1))); do
    s=$(( (i + round - 1) % NSETS ))
    one "$s"
    echo "  set $s ($(label "$s")): $(for p in "${ROWS[@]}"; do printf '%s' "$p"; for n in $(seq "$RUNS"); do printf ' %.2f' "${C[$s,$p,$n,$round]}"; done; printf '  '; done)" >&2
  done
  echo "round $round done ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
END=$(date -u +%H:%M)

# MR/MC[S,ROW,N]: medians over the rounds
declare -A MR MC
PS=(start)
for p in "${ALL[@]}"; do wants "$p" && PS+=("$p"); done
for s in $(seq 0 $((NSETS - 1))); do
  for p in "${PS[@]}"; do
    for n in $(seq "$RUNS"); do
      [ "$p" = start ] && [ "$n" -gt 1 ] && continue
      vals=(); cvals=()
      for r in $(seq 1 "$ROUNDS"); do vals+=("${R[$s,$p,$n,$r]}"); cvals+=("${C[$s,$p,$n,$r]}"); done
      MR[$s,$p,$n]=$(median "${vals[@]}"); MC[$s,$p,$n]=$(median "${cvals[@]}")
    done
  done
done
f2() { awk -v x="$1" 'BEGIN { printf "%.2f", x }'; }
share() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", (a > 0 ? 100 * (a - b) / a : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf (b > 0 ? "%.2f" : "–"), (b > 0 ? a / b : 0) }'; }

out=bench/results/warmup-$(date -u +%Y%m%dT%H%MZ).md
mkdir -p bench/results
{
  echo "bench/warmup.sh, $(date -u +%Y-%m-%d) $START–$END UTC, $(nproc) CPUs, $(uname -r), node $(node --version), median of $ROUNDS interleaved round(s), $RUNS runs of each row on one mount."
  echo "Load average (1/5/15 min) at start $LOAD0, at end $LOAD1; 1-min load at each round's start: $(for r in $(seq 1 "$ROUNDS"); do printf '%s ' "${RLOAD[$r]}"; done)"
  echo "Tree: $SRC, $NFILES files (sha256 of the tar $(sha256sum "$TAR" | cut -c1-16)…); homecrypt $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ', with changes')."
  echo "Daemon CPU seconds (user + system, all threads) of each run; run 1 is home.sh's row on a fresh daemon, warm-up = (run 1 − run $RUNS) / run 1. \"start to ready\": the daemon's CPU from exec to a usable mount (a key store unlock with --kdf-time 0.05 included)."
  for s in $(seq 0 $((NSETS - 1))); do
    echo
    echo "Option set $s: $(label "$s")"
    echo
    hdr="| row |"; sep="|---|"
    for n in $(seq "$RUNS"); do hdr+=" CPU run $n |"; sep+="---|"; done
    hdr+=" warm-up |"; sep+="---|"
    for n in $(seq "$RUNS"); do hdr+=" wall run $n |"; sep+="---|"; done
    echo "$hdr"; echo "$sep"
    for p in "${PS[@]}"; do
      line="| ${LABEL[$p]} |"
      if [ "$p" = start ]; then
        line+=" $(f2 "${MC[$s,start,1]}") |"; for n in $(seq 2 "$RUNS"); do line+=" |"; done; line+=" |"; for n in $(seq "$RUNS"); do line+=" |"; done
      else
        for n in $(seq "$RUNS"); do line+=" $(f2 "${MC[$s,$p,$n]}") |"; done
        line+=" $(share "${MC[$s,$p,1]}" "${MC[$s,$p,$RUNS]}") |"
        for n in $(seq "$RUNS"); do line+=" $(f2 "${MR[$s,$p,$n]}") |"; done
      fi
      echo "$line"
    done
  done
  if [ "$NSETS" -gt 1 ]; then
    echo
    echo "Against set 0 ($(label 0)), daemon CPU of the set over set 0's, run 1 (fresh daemon) / run $RUNS (warm), and wall run 1 / run $RUNS:"
    echo
    hdr="| row |"; sep="|---|"
    for s in $(seq 1 $((NSETS - 1))); do hdr+=" $(label "$s"): CPU | wall |"; sep+="---|---|"; done
    echo "$hdr"; echo "$sep"
    for p in "${PS[@]}"; do
      line="| ${LABEL[$p]} |"
      for s in $(seq 1 $((NSETS - 1))); do
        if [ "$p" = start ]; then line+=" $(ratio "${MC[$s,start,1]}" "${MC[0,start,1]}") | |"
        else line+=" $(ratio "${MC[$s,$p,1]}" "${MC[0,$p,1]}") / $(ratio "${MC[$s,$p,$RUNS]}" "${MC[0,$p,$RUNS]}") | $(ratio "${MR[$s,$p,1]}" "${MR[0,$p,1]}") / $(ratio "${MR[$s,$p,$RUNS]}" "${MR[0,$p,$RUNS]}") |"; fi
      done
      echo "$line"
    done
  fi
  failed_list
} | tee "$out"
echo "(saved to $out)" >&2
