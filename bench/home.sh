#!/usr/bin/env bash
# What a home directory does (issue 19): streaming dd, a cold read, untar of a
# real library tree, a cold ls -lR, md5 of every file, git init/add/commit and
# git status, 1,000 committed sqlite inserts, rm -rf, and 4 parallel fio jobs of
# 4k random reads and writes — on the plain lower directory, gocryptfs, securefs
# and homecrypt, interleaved in one run, ROUNDS rounds, medians, with the load
# average at start and end, the daemons' CPU seconds, and homecrypt's ratio to
# the best peer and to plain.
# Usage: bench/home.sh [ROUNDS]   (root; default 3; writes bench/results/home-*.md)
#   BEFORE=REV   also runs homecrypt built from git revision REV ("before"), in the same rounds
#   CROSS=1      with BEFORE: also this checkout on a volume made by BEFORE's init ("cross")
#   FLOOR=1      also runs "floor": no encryption, a passthrough on the same FUSE bridge in Node
#                (bench/lib/variants.sh), and adds homecrypt / floor, the engine's own share
#   NORECORDS=1  also runs "norecords", a measuring build without format 2's write records,
#                and adds homecrypt / norecords: what crash safety costs each row
#   NOXATTRS=1   also runs "noxattrs", a measuring build serving no xattrs and no ACLs (as
#                securefs), and adds homecrypt / noxattrs: what they cost each row
#   SYNCFSYNC=1  also runs "syncfsync", a measuring build making the lower fsync on the JS
#                thread (as the floor does), and adds homecrypt / syncfsync
#   SPINS='N …'  also runs "spinN" for each N: a measuring build whose bridge spins N µs
#                after a reply instead of 50, and adds homecrypt / spinN
#   STRACE=ROW   runs homecrypt's daemon under `strace -c -f` for that row (e.g. sqlite);
#                the summary is appended to the results (that row's times are then not comparable)
#   FIO_MB=N     size of each fio job's file in MiB (default 32)
#   WARM=1       also runs "warm": homecrypt whose every fresh mount first serves a short
#                warm-up (untimed: a part of the tree untarred, read, listed, committed with
#                git, 100 sqlite inserts, 8 MB written and read, all removed) in a folder of
#                its own, then the row on its own files, still uncached: the row as a
#                logged-in user's long-running daemon serves it, not a process started for
#                it; adds homecrypt / warm, what a new daemon process costs each row
#   BARE=1       also runs "bare": a measuring build with norecords', noxattrs' and syncfsync's
#                patches all in, warmed up as "warm" is; bare / best peer is what the engine's
#                own work costs each row once a new process and those three guarantees are out
# The tree is /usr/lib/python3.11 of this machine (Debian python3.11), tarred once
# reproducibly (sorted, mtime 0, owner 0); its file count and sha256 go into the results.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROUNDS=${1:-3}
FIO_MB=${FIO_MB:-32}
SRC=/usr/lib/python3.11
[ "$(id -u)" = 0 ] || { echo "bench: run as root (drop_caches, mounts)" >&2; exit 1; }
[ -d "$SRC" ] || { echo "bench: $SRC missing (apt-get install python3)" >&2; exit 1; }
for tool in fio sqlite3 git strace; do command -v $tool >/dev/null || { echo "bench: $tool missing (./run deps)" >&2; exit 1; }; done
VARIANTS=(plain gocryptfs securefs homecrypt)
if [ -n "${WARM:-}" ]; then VARIANTS+=(warm); fi
if [ -n "${BARE:-}" ]; then VARIANTS+=(bare); fi
. bench/lib/variants.sh
bench_init

tree_tar "$SRC"
home_workload
# each of 4 jobs has its own FIO_MB file; one pass in random order (fio's random
# map: no block twice), so every read misses the FUSE page cache; buffered I/O
# (not every peer takes O_DIRECT), page cache of the file dropped first (invalidate=1)
fio_args() { echo --directory="$1/fio" --name=j --numjobs=4 --size="${FIO_MB}m" --bs=4k --ioengine=psync \
  --fallocate=none --invalidate=1 --group_reporting --runtime=60; }
iops() { python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["jobs"][0][sys.argv[2]]["iops"]))' "$1" "$2"; }

PHASES=(write read untar ls md5 git status sqlite rm randread randwrite)
declare -A LABEL=([write]="dd write 256 MB" [read]="dd read, cold" [untar]="untar" [ls]="ls -lR, cold"
  [md5]="md5 of every file" [git]="git init + add + commit" [status]="git status ×2"
  [sqlite]="sqlite, 1,000 committed inserts" [rm]="rm -rf" [randread]="fio 4 jobs 4k randread, IOPS"
  [randwrite]="fio 4 jobs 4k randwrite, IOPS")
is_iops() { [ "$1" = randread ] || [ "$1" = randwrite ]; }
# fmt ROW VALUE: seconds with 2 decimals, IOPS in thousands
fmt() { if is_iops "$1"; then awk -v x="$2" 'BEGIN { printf "%.1fk", x / 1000 }'; else awk -v x="$2" 'BEGIN { printf "%.2f", x }'; fi; }

# WARM=1's and BARE=1's warm-up: a part of the tree (a few hundred files), and 100 of the inserts
if [ -n "${WARM:-}${BARE:-}" ]; then
  WARM_TAR=$W/warm.tar
  tar -C "$(dirname "$SRC")" -cf "$WARM_TAR" "$TREE/email" "$TREE/json" "$TREE/encodings" "$TREE/asyncio"
  WARM_SQL=$W/warm.sql
  head -101 "$SQL" > "$WARM_SQL"
fi
warm_up() { # DIR: the warm-up in DIR/warm-up, then removed (a failure is said and listed, as a row's)
  t sh -c "rm -rf '$1/warm-up' && mkdir '$1/warm-up' && cd '$1/warm-up' && tar -xf '$WARM_TAR' && find . -type f -print0 | xargs -0 md5sum &&
    ls -lR && ${GIT[*]} init -q && ${GIT[*]} add -A && ${GIT[*]} commit -q -m w && git status --porcelain &&
    sqlite3 db.sqlite < '$WARM_SQL' && dd if=/dev/zero of=z bs=128k count=64 conv=fsync && dd if=z of=/dev/null bs=128k &&
    cd .. && rm -rf warm-up" > /dev/null
}
# fresh VARIANT DIR: a new mount for the next row (warm, bare: warmed up); freshcold also drops every cache
fresh() { mnt "$1"; case $1 in warm|bare) warm_up "$2" ;; esac; }
freshcold() { fresh "$1" "$2"; drop_caches; }

one() { # VARIANT: every row once, each on a fresh mount (cold: caches dropped too)
  local v=$1 d
  d=$(setup "$v")
  fresh "$v" "$d"
  tc "$v" write dd if=/dev/zero of="$d/zero" bs=128k count=2048 conv=fsync
  freshcold "$v" "$d"
  tc "$v" read dd if="$d/zero" of=/dev/null bs=128k
  rm -f "$d/zero"
  fresh "$v" "$d"
  tc "$v" untar tar -xf "$TAR" -C "$d"
  freshcold "$v" "$d"
  tc "$v" ls ls -lR "$d"
  fresh "$v" "$d"
  tc "$v" md5 sh -c "find '$d/$TREE' -type f -print0 | xargs -0 md5sum"
  fresh "$v" "$d"
  tc "$v" git sh -c "cd '$d/$TREE' && ${GIT[*]} init -q && ${GIT[*]} add -A && ${GIT[*]} commit -q -m tree"
  fresh "$v" "$d"
  tc "$v" status sh -c "cd '$d/$TREE' && git status --porcelain && git status --porcelain"
  fresh "$v" "$d"
  tc "$v" sqlite sh -c "sqlite3 '$d/db.sqlite' < '$SQL'"
  fresh "$v" "$d"
  tc "$v" rm rm -rf "$d/$TREE" "$d/db.sqlite"
  # fio: lay the files out (untimed), then read them all once at random, then overwrite them
  mnt "$v"
  mkdir -p "$d/fio"
  # shellcheck disable=SC2046
  fio $(fio_args "$d") --rw=randread --create_only=1 >/dev/null
  fresh "$v" "$d"
  # shellcheck disable=SC2046
  tc "$v" randread fio $(fio_args "$d") --rw=randread --output-format=json --output="$W/fio.json"
  R[$v,randread,$round]=$(iops "$W/fio.json" read)
  fresh "$v" "$d"
  # shellcheck disable=SC2046
  tc "$v" randwrite fio $(fio_args "$d") --rw=randwrite --output-format=json --output="$W/fio.json"
  R[$v,randwrite,$round]=$(iops "$W/fio.json" write)
  rm -rf "$d/fio"
  echo "  $v: $(for p in "${PHASES[@]}"; do printf '%s %s  ' "$p" "$(fmt "$p" "${R[$v,$p,$round]}")"; done)" >&2
}

n=${#VARIANTS[@]}
echo "bench/home.sh: $ROUNDS round(s) × $n variants (${VARIANTS[*]}); about 50 s a variant a round on an idle 2-CPU machine:" \
  "~$(( (ROUNDS * n * 50 + 59) / 60 )) min (several times that under load)" >&2
each_round one
medians "${PHASES[@]}"

# ratio ROW A B: A's cost over B's (time: A/B; IOPS: B/A), bold above 1
ratio() {
  awk -v a="$2" -v b="$3" -v iops="$(is_iops "$1" && echo 1 || echo 0)" 'BEGIN {
    r = iops ? (a > 0 ? b / a : 0) : (b > 0 ? a / b : 0)
    printf (r > 1.005 ? "**%.2f**" : "%.2f"), r }'
}
best_peer() { # ROW: the better of gocryptfs and securefs
  if is_iops "$1"; then awk -v a="${M[gocryptfs,$1]}" -v b="${M[securefs,$1]}" 'BEGIN { print (a > b) ? a : b }'
  else awk -v a="${M[gocryptfs,$1]}" -v b="${M[securefs,$1]}" 'BEGIN { print (a < b) ? a : b }'; fi
}
HCV=(homecrypt); [ -n "${OLD:-}" ] && HCV=(before homecrypt)
[ -n "${CROSS:-}" ] && HCV=(before cross homecrypt)
# the variants homecrypt is divided by (bench_init added them), each in a column of its own
PARTS=()
for v in "${VARIANTS[@]}"; do
  if [ "$v" = floor ] || [ "$v" = warm ] || measuring "$v"; then HCV+=("$v"); PARTS+=("$v"); fi
done
out=bench/results/home-$(date -u +%Y%m%dT%H%MZ).md
mkdir -p bench/results
{
  echo "bench/home.sh, $(date -u +%Y-%m-%d) $START–$END UTC, $(nproc) CPUs, $(uname -r), median of $ROUNDS interleaved round(s)."
  [ -n "${BARE:-}" ] && echo "\"bare\" is a measuring build without write records, xattrs and ACLs, and the fsync's hand-off to a pool thread (bench/lib/variants.sh), warmed up as \"warm\" is: not a configuration anyone runs."
  [ -n "${WARM:-}${BARE:-}" ] && echo "\"warm\"$([ -n "${BARE:-}" ] && echo " (and \"bare\")") is homecrypt whose every fresh mount first served the warm-up, untimed ($(tar -tf "$WARM_TAR" | grep -vc '/$') files of the tree, ls, md5, git, 100 inserts, 8 MB), so its daemon was no longer a new process when its row began."
  echo "Load average (1/5/15 min) at start $LOAD0, at end $LOAD1; 1-min load at each round's start: $(for r in $(seq 1 "$ROUNDS"); do printf '%s ' "${RLOAD[$r]}"; done)"
  echo "Tree: $SRC, $NFILES files, $(du -sh "$TAR" | cut -f1) tar (sha256 $(sha256sum "$TAR" | cut -c1-16)…). gocryptfs $(gocryptfs -version | cut -d';' -f1 | cut -d' ' -f2), securefs $(dpkg-query -W -f='${Version}' securefs) (format 4)."
  echo "Seconds (lower is better) or IOPS (higher is better); ratios are of cost, so above 1 (bold) is worse: for IOPS rows the inverse."
  [ -n "${OLD:-}" ] && { echo; revisions; }
  echo
  hdr="| row | plain | gocryptfs | securefs |"; sep="|---|---|---|---|"
  for v in "${HCV[@]}"; do hdr+=" $v |"; sep+="---|"; done
  for v in "${HCV[@]}"; do hdr+=" $v / best peer | $v / plain |"; sep+="---|---|"; done
  for v in "${PARTS[@]}"; do hdr+=" homecrypt / $v |"; sep+="---|"; done
  echo "$hdr"; echo "$sep"
  for p in "${PHASES[@]}"; do
    bp=$(best_peer "$p")
    line="| ${LABEL[$p]} | $(fmt "$p" "${M[plain,$p]}") | $(fmt "$p" "${M[gocryptfs,$p]}") | $(fmt "$p" "${M[securefs,$p]}") |"
    for v in "${HCV[@]}"; do line+=" $(fmt "$p" "${M[$v,$p]}") |"; done
    for v in "${HCV[@]}"; do line+=" $(ratio "$p" "${M[$v,$p]}" "$bp") | $(ratio "$p" "${M[$v,$p]}" "${M[plain,$p]}") |"; done
    for v in "${PARTS[@]}"; do line+=" $(ratio "$p" "${M[homecrypt,$p]}" "${M[$v,$p]}") |"; done
    echo "$line"
  done
  echo
  echo "CPU seconds used by the filesystem daemon in each row (user + system, all threads; median), and homecrypt's CPU time over its wall time:"
  echo
  hdr="| row | gocryptfs | securefs |"; sep="|---|---|---|"
  for v in "${HCV[@]}"; do hdr+=" $v |"; sep+="---|"; done
  echo "$hdr homecrypt CPU / wall |"; echo "$sep---|"
  for p in "${PHASES[@]}"; do
    line="| ${LABEL[$p]} | $(fmt x "${MC[gocryptfs,$p]}") | $(fmt x "${MC[securefs,$p]}") |"
    for v in "${HCV[@]}"; do line+=" $(fmt x "${MC[$v,$p]}") |"; done
    if is_iops "$p"; then line+=" – |"; else line+=" $(awk -v c="${MC[homecrypt,$p]}" -v w="${M[homecrypt,$p]}" 'BEGIN { printf "%.2f", (w > 0 ? c / w : 0) }') |"; fi
    echo "$line"
  done
  failed_list
  for f in "$W"/strace-*.txt; do
    [ -f "$f" ] || continue
    echo
    echo "\`strace -c -f\` of the homecrypt daemon during row ${STRACE} ($(basename "$f" .txt | sed 's/.*-r/round /')):"
    echo
    echo '```'
    head -30 "$f"
    echo '```'
  done
} | tee "$out"
echo "(saved to $out)" >&2
