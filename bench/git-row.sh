#!/usr/bin/env bash
# home.sh's git row alone (issue 19, session 7): `git init && git add -A &&
# git commit` of the Debian /usr/lib/python3.11 tree, on a fresh mount of a
# volume the tree was untarred into (untimed, on an earlier mount), for
# homecrypt (this checkout) and "before" (BEFORE=REV), interleaved, ROUNDS
# rounds, medians of the wall time and of the daemon's CPU seconds.
#   STRACE=1    one more pass per variant with the daemon under `strace -c -f`
#               (its lower system calls: the summary goes into the results)
#   PROF=DIR    one more pass per variant with the daemon under `node --cpu-prof`
#               (a foreground mount; the profiles go to DIR/VARIANT)
#   COUNTS=1    one more pass per variant with the FUSE requests counted by
#               opcode (bench/bridge-serve.mjs, the same engine and kernel
#               bridge with the mount's 60 s cache timeout, a throwaway key)
#   GIT_VARIANTS="securefs homecrypt"  other variants too (bench/lib/variants.sh)
# Usage: bench/git-row.sh [ROUNDS]   (root; default 3; writes bench/results/git-row-*.md)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROUNDS=${1:-3}
SRC=/usr/lib/python3.11
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
[ -d "$SRC" ] || { echo "bench: $SRC missing (apt-get install python3)" >&2; exit 1; }
command -v git >/dev/null || { echo "bench: git missing (./run deps)" >&2; exit 1; }
read -r -a VARIANTS <<< "${GIT_VARIANTS:-homecrypt}"
. bench/lib/variants.sh
bench_init
mkdir -p "$APP/bench" && cp bench/bridge-serve.mjs "$APP/bench/" # for COUNTS

tree_tar "$SRC"
NDIRS=$(tar -tf "$TAR" | grep -c '/$')
home_workload
git_row() { # DIR: the row itself, in the tree under DIR
  sh -c "cd '$1/$TREE' && ${GIT[*]} init -q && ${GIT[*]} add -A && ${GIT[*]} commit -q -m tree"
}

prep() { # VARIANT DIR: a fresh copy of the tree (untimed), then a fresh mount
  local v=$1 d=$2
  mnt "$v"
  rm -rf "${d:?}/$TREE"
  tar -xf "$TAR" -C "$d"
  mnt "$v"
}

row_rounds git prep git_row
row_straced prep git_row

# profile pass: the daemon in the foreground under node --cpu-prof
if [ -n "${PROF:-}" ]; then
  mkdir -p "$PROF"
  for v in "${VARIANTS[@]}"; do
    is_hc "$v" || continue
    d=$(setup "$v")
    prep "$v" "$d"
    "$(hc_of "$v")" umount "$W/$v/mnt"
    app=$(dirname "$(dirname "$(hc_of "$v")")")
    echo "$PASS" | node --cpu-prof --cpu-prof-dir="$PROF/$v" "$app/bin/homecrypt" mount "$W/$v/lower" "$W/$v/mnt" \
      --passphrase-fd 0 --foreground >/dev/null 2>&1 & fg=$!
    for _ in $(seq 100); do mountpoint -q "$W/$v/mnt" && break; sleep 0.1; done
    git_row "$d" >/dev/null 2>&1 || echo "bench: git failed under the profiler ($v)" >&2
    fusermount -u "$W/$v/mnt"; wait "$fg" || true
  done
fi

# counts pass: FUSE requests by opcode, through bench/bridge-serve.mjs
declare -A CN
if [ "${COUNTS:-}" = 1 ]; then
  for v in "${VARIANTS[@]}"; do
    is_hc "$v" || continue
    app=$(dirname "$(dirname "$(hc_of "$v")")")
    cl=$W/counts-$v/lower cm=$W/counts-$v/mnt
    mkdir -p "$cm"
    serve() { HOMECRYPT_BRIDGE_STATS=1 HOMECRYPT_BRIDGE_TIMEOUT=60 node "$app/bench/bridge-serve.mjs" kernel homecrypt "$cl" "$cm" >/dev/null 2>>"$W/counts-$v.err" & sp=$!
      for _ in $(seq 100); do mountpoint -q "$cm" && break; sleep 0.1; done; }
    serve; tar -xf "$TAR" -C "$cm"; kill -TERM "$sp"; wait "$sp" || true
    : > "$W/counts-$v.err"
    serve; git_row "$cm" >/dev/null 2>&1 || echo "bench: git failed under bridge-serve ($v)" >&2
    kill -TERM "$sp"; wait "$sp" || true
    CN[$v]=$(grep '^{' "$W/counts-$v.err" | tail -1)
  done
fi

row_unmount
{
  row_head git-row.sh "Tree: $SRC, $NFILES files and links, $NDIRS directories, $(du -sh "$TAR" | cut -f1) tar. $(git --version)."
  row_table git
  row_strace 1 ""
  if [ "${COUNTS:-}" = 1 ]; then
    echo
    echo "FUSE requests by opcode during one row (bench/bridge-serve.mjs):"
    echo
    for v in "${VARIANTS[@]}"; do is_hc "$v" && echo "- $v: ${CN[$v]:-none}"; done
  fi
  failed_list
} | tee "$W/result.md"
mkdir -p bench/results
cp "$W/result.md" "bench/results/git-row-$(date -u +%Y%m%dT%H%MZ).md"
