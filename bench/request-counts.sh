#!/usr/bin/env bash
# FUSE requests per opcode of each of home.sh's filesystem rows (untar, cold
# ls -lR, md5, git init/add/commit, git status ×2, sqlite, rm -rf), served by
# the same kernel bridge once with the engine (homecrypt) and once with a
# passthrough that encrypts nothing and serves no xattrs ("floor", as in
# home.sh's FLOOR=1): where the two differ, the engine asks the kernel for
# more round trips; where they agree, its share of a row is per-request work.
# Counts, not times: one round, any load. A fresh daemon per row, as home.sh.
# Usage: bench/request-counts.sh   (root; writes bench/results/request-counts-*.md)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root (drop_caches, mounts)" >&2; exit 1; }
for tool in sqlite3 git; do command -v $tool >/dev/null || { echo "bench: $tool missing (./run deps)" >&2; exit 1; }; done
VARIANTS=()
. bench/lib/variants.sh
bench_init
tree_tar /usr/lib/python3.11
home_workload
ROWS=(untar ls md5 git status sqlite rm)
export HOMECRYPT_BRIDGE_STATS=1 # each daemon prints its request counts as it exits
declare -A N # N[kind,row] = {"op":count,...}
for kind in passthrough homecrypt; do
  L=$W/$kind/lower M=$W/$kind/mnt
  mkdir -p "$L" "$M"
  for row in "${ROWS[@]}"; do
    bridge_serve "$kind" "$L" "$M" "$W/serve"
    case $row in
      untar) tar -xf "$TAR" -C "$M" ;;
      ls) drop_caches; ls -lR "$M" > /dev/null ;;
      md5) find "$M/$TREE" -type f -print0 | xargs -0 md5sum > /dev/null ;;
      git) (cd "$M/$TREE" && "${GIT[@]}" init -q && "${GIT[@]}" add -A && "${GIT[@]}" commit -q -m tree) ;;
      status) (cd "$M/$TREE" && git status --porcelain > /dev/null && git status --porcelain > /dev/null) ;;
      sqlite) sqlite3 "$M/db.sqlite" < "$SQL" ;;
      rm) rm -rf "${M:?}/$TREE" "$M/db.sqlite" ;;
    esac
    fusermount -u "$M"
    wait "$(cat "$W/serve.pid")" || true
    N[$kind,$row]=$(tail -1 "$W/serve.err")
  done
done
total() { node -e 'let t = 0; for (const v of Object.values(JSON.parse(process.argv[1]))) t += v; console.log(t)' "$1"; }
count() { node -e 'console.log(JSON.parse(process.argv[1])[process.argv[2]] ?? 0)' "$1" "$2"; }
out=bench/results/request-counts-$(date -u +%Y%m%dT%H%MZ).md
mkdir -p bench/results
{
  echo "bench/request-counts.sh, $(date -u '+%Y-%m-%d %H:%M') UTC, $(uname -r); tree $TREE ($NFILES files). FUSE requests per row, a fresh daemon each."
  echo
  echo "| row | floor: requests | homecrypt: requests | homecrypt GETXATTR | homecrypt's other requests over the floor's |"
  echo "|---|---|---|---|---|"
  for row in "${ROWS[@]}"; do
    f=$(total "${N[passthrough,$row]}") h=$(total "${N[homecrypt,$row]}")
    fx=$(count "${N[passthrough,$row]}" getxattr) hx=$(count "${N[homecrypt,$row]}" getxattr)
    echo "| $row | $f | $h | $hx | $(( (h - hx) - (f - fx) )) |"
  done
  echo
  echo "Per opcode:"
  echo
  for row in "${ROWS[@]}"; do echo "- $row: floor \`${N[passthrough,$row]}\`; homecrypt \`${N[homecrypt,$row]}\`"; done
} | tee "$out"
echo "(saved to $out)" >&2
