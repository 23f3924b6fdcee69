#!/usr/bin/env bash
# home.sh's untar row alone (issue 19, session 22): the Debian
# /usr/lib/python3.11 tree untarred into a fresh mount of an empty volume, for
# homecrypt (this checkout) and "before" (BEFORE=REV), interleaved, ROUNDS
# rounds, medians of the wall time and of the daemon's CPU seconds. The row
# is 1,406 creates with 3 SETATTRs each (tar's chmod, chown and mtime), so it
# shows what a create or a SETATTR costs the daemon.
#   STRACE=1    one more pass per variant with the daemon under `strace -c -f`
#               (its lower system calls per file of the tree go into the results)
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
  mnt "$1"
  rm -rf "${2:?}/$TREE"
  mnt "$1"
}

row_rounds untar fresh untar_row
row_straced fresh untar_row

row_unmount
{
  row_head untar-row.sh "Tree: $SRC, $NFILES files and links, $(du -sh "$TAR" | cut -f1) tar."
  row_table untar
  row_strace "$NFILES" ", per file of the tree"
  failed_list
} | tee "$W/result.md"
mkdir -p bench/results
cp "$W/result.md" "bench/results/untar-row-$(date -u +%Y%m%dT%H%MZ).md"
