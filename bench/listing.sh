#!/usr/bin/env bash
# Issue 19's "ls -lR, cold" row alone, with what it costs the daemon: the home
# tree (/usr/lib/python3.11, as home.sh) untarred once into each variant, then
# each round, on each variant in turn (the order rotates): a fresh mount and a
# machine-wide cache drop, `ls -lR` ("cold"); the caches dropped again and
# `ls -lR` on the same daemon ("cold again": the daemon's code is warm, the
# kernel's and the lower disk's caches are not); and `ls -lR` once more
# without a drop ("cached": what the kernel still asks with everything cached).
# Wall seconds and the daemon's CPU seconds, medians of ROUNDS rounds.
# Usage: bench/listing.sh [ROUNDS]   (root; default 5; writes bench/results/listing-*.md)
#   BEFORE=REV  also homecrypt built from revision REV ("before"), in the same rounds
#   PEERS=1     also securefs and gocryptfs
#   COUNTS=1    a separate pass per homecrypt build: FUSE requests per opcode for one
#               cold ls -lR (bench/bridge-serve.mjs: the same engine, bridge and timeouts)
#   STRACE=1    a separate pass: the daemon's system calls for one cold ls -lR (`strace -c -f`)
#   PROF=DIR    a separate pass: a `node --cpu-prof` profile of the daemon for one cold ls -lR
#   TREE=DIR    list a copy of DIR instead (TREE=node_modules: the canonical benchmark's tree,
#               this checkout's node_modules, through its symlink)
#   WARM=1      the canonical benchmark's ls row: no cache drop anywhere, so "cold" is a fresh
#               daemon over lower files in the page cache (each canonical phase mounts afresh
#               right after the untar), "again" a second listing on that daemon
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROUNDS=${1:-5}
SRC=$(readlink -f "${TREE:-/usr/lib/python3.11}")
[ "$(id -u)" = 0 ] || { echo "bench: run as root (drop_caches, mounts)" >&2; exit 1; }
[ -d "$SRC" ] || { echo "bench: $SRC missing (apt-get install python3)" >&2; exit 1; }
VARIANTS=(homecrypt)
[ -n "${PEERS:-}" ] && VARIANTS=(securefs gocryptfs homecrypt)
. bench/lib/variants.sh
bench_init
mkdir -p "$APP/bench" && cp bench/bridge-serve.mjs "$APP/bench/" # for COUNTS (it finds dist/ beside it)

TAR=$W/tree.tar
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$(dirname "$SRC")" -cf "$TAR" "$(basename "$SRC")"
TREE=$(basename "$SRC")
NENT=$(tar -tf "$TAR" | wc -l)
NDIRS=$(tar -tf "$TAR" | grep -c '/$')
PHASES=(cold again cached)
declare -A LABEL=([cold]="cold (fresh mount, caches dropped)" [again]="cold again (same daemon, caches dropped)" [cached]="cached (no drop)")
[ -n "${WARM:-}" ] && LABEL=([cold]="fresh mount, lower cached" [again]="again (same daemon)" [cached]="once more")

drop() { [ -n "${WARM:-}" ] || drop_caches; }
# cold: a fresh mount, and the drop unless WARM
cold() { mnt "$1"; drop; }
one() { # VARIANT: the three listings on one fresh mount
  local v=$1 d
  d=$(setup "$v")
  cold "$v"
  tc "$v" cold ls -lR "$d/$TREE"
  drop
  tc "$v" again ls -lR "$d/$TREE"
  tc "$v" cached ls -lR "$d/$TREE"
  echo "  $v: $(for p in "${PHASES[@]}"; do printf '%s %.2f s (CPU %.2f)  ' "$p" "${R[$v,$p,$round]}" "${C[$v,$p,$round]}"; done)" >&2
}

for v in "${VARIANTS[@]}"; do d=$(setup "$v"); mnt "$v"; tar -xf "$TAR" -C "$d"; done
each_round one
medians "${PHASES[@]}"
HCV=(homecrypt); [ -n "${OLD:-}" ] && HCV=(before homecrypt)

# FUSE requests per opcode: the engine served by bench/bridge-serve.mjs (its own
# throwaway volume) with the daemon's timeouts, one cold ls -lR
declare -A QC
if [ -n "${COUNTS:-}" ]; then
  for v in "${HCV[@]}"; do
    app=$(dirname "$(dirname "$(hc_of "$v")")")
    lo=$W/counts-$v/lower m=$W/counts-$v/mnt
    mkdir -p "$lo" "$m"
    for pass in fill list; do
      HOMECRYPT_BRIDGE_STATS=1 HOMECRYPT_BRIDGE_TIMEOUT=60 node "$app/bench/bridge-serve.mjs" kernel homecrypt "$lo" "$m" \
        >"$W/counts-$v/ready" 2>"$W/counts-$v/$pass.err" & srv=$!
      for _ in $(seq 600); do grep -q ready "$W/counts-$v/ready" 2>/dev/null && break; sleep 0.1; done
      mountpoint -q "$m" || { echo "bench: bridge-serve of $v did not mount" >&2; kill "$srv" 2>/dev/null; exit 1; }
      if [ $pass = fill ]; then tar -xf "$TAR" -C "$m"; else drop; ls -lR "$m/$TREE" >/dev/null; fi
      fusermount -u "$m"; wait "$srv" || true
    done
    QC[$v]=$(tail -1 "$W/counts-$v/list.err")
  done
fi

# the daemon's system calls for one cold ls -lR
declare -A SC
if [ -n "${STRACE:-}" ]; then
  for v in "${HCV[@]}"; do
    d=$(setup "$v"); cold "$v"
    traced "$W/strace-$v.txt" "$v" ls -lR "$d/$TREE"
    SC[$v]=$W/strace-$v.txt
  done
fi

# a CPU profile of the daemon (foreground, under node --cpu-prof) for one cold ls -lR
if [ -n "${PROF:-}" ]; then
  mkdir -p "$PROF"
  for v in "${HCV[@]}"; do
    d=$(setup "$v")
    "$(hc_of "$v")" umount "$W/$v/mnt" 2>/dev/null || true
    app=$(dirname "$(dirname "$(hc_of "$v")")")
    echo "$PASS" | node --cpu-prof --cpu-prof-dir="$PROF/$v" "$app/bin/homecrypt" mount "$W/$v/lower" "$W/$v/mnt" \
      --passphrase-fd 0 --foreground >/dev/null 2>&1 & fg=$!
    for _ in $(seq 100); do mountpoint -q "$W/$v/mnt" && break; sleep 0.1; done
    drop
    ls -lR "$d/$TREE" >/dev/null
    fusermount -u "$W/$v/mnt"; wait "$fg" || true
  done
fi

for v in "${HCV[@]}"; do "$(hc_of "$v")" umount "$W/$v/mnt" 2>/dev/null || true; done
out=bench/results/listing-$(date -u +%Y%m%dT%H%MZ).md
mkdir -p bench/results
{
  echo "bench/listing.sh, $(date -u +%Y-%m-%d) $START–$END UTC, $(nproc) CPUs, $(uname -r), median of $ROUNDS interleaved round(s)."
  echo "Load average (1/5/15 min) at start $LOAD0, at end $LOAD1; 1-min load at each round's start: $(for r in $(seq 1 "$ROUNDS"); do printf '%s ' "${RLOAD[$r]}"; done)"
  echo "Tree: $SRC, $NENT entries ($NDIRS directories), \`ls -lR\` of it$([ -n "${WARM:-}" ] && echo ', lower page cache warm (WARM=1: no drop)')."
  [ -n "${OLD:-}" ] && { echo; revisions; }
  echo
  echo "| ls -lR | variant | wall s | daemon CPU s |"
  echo "|---|---|---|---|"
  for p in "${PHASES[@]}"; do
    for v in "${VARIANTS[@]}"; do
      awk -v l="${LABEL[$p]}" -v v="$v" -v w="${M[$v,$p]}" -v c="${MC[$v,$p]}" 'BEGIN { printf "| %s | %s | %.3f | %.3f |\n", l, v, w, c }'
    done
  done
  if [ -n "${COUNTS:-}" ]; then
    echo
    echo "FUSE requests of one cold ls -lR, by opcode:"
    echo
    echo "| opcode | $(printf '%s | ' "${HCV[@]}")"
    echo "|---|$(printf -- '---|%.0s' "${HCV[@]}")"
    for op in $(for v in "${HCV[@]}"; do echo "${QC[$v]}"; done | python3 -c 'import json,sys; print("\n".join(sorted({k for l in sys.stdin if l.strip() for k in json.loads(l)})))'); do
      line="| $op |"
      for v in "${HCV[@]}"; do line+=" $(echo "${QC[$v]}" | python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], 0))' "$op") |"; done
      echo "$line"
    done
  fi
  if [ -n "${STRACE:-}" ]; then
    echo
    echo "The daemon's system calls for one cold ls -lR (\`strace -c -f\`):"
    echo
    args=(); for v in "${HCV[@]}"; do args+=("$v" "${SC[$v]}"); done
    strace_table 1 "${args[@]}"
  fi
  failed_list
} | tee "$out"
echo "(saved to $out)" >&2
