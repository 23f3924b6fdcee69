#!/usr/bin/env bash
# The canonical benchmark of gocryptfs (upstream tests/canonical-benchmarks.bash):
# streaming write and read of 2000 x 128 KiB, untar of a source tree, ls -lR,
# md5sum of every file, rm -rf — on the plain lower filesystem, on gocryptfs
# (Debian package) and on homecrypt, interleaved in one run, ROUNDS rounds,
# medians, and the ratio homecrypt / gocryptfs (time; lower is better). The order of
# the variants rotates from round to round.
# The tree is a reproducible tarball of this checkout's node_modules.
# Usage: bench/canonical.sh [ROUNDS]   (root; writes bench/results/canonical-*.md)
#        BEFORE=REV bench/canonical.sh [ROUNDS]   also runs homecrypt built from git
#        revision REV ("before" column), interleaved in the same rounds, so a change
#        is compared with the code before it on the same machine at the same moment;
#        BEFORE2=REV a second older build ("before2"), e.g. the base of a branch
#        beside the revision a bound is stated against; CROSS=1 (with BEFORE) this
#        checkout on a volume made by BEFORE's init ("cross"): code and format apart
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROUNDS=${1:-3}
VARIANTS=(plain gocryptfs homecrypt)
. bench/lib/variants.sh
bench_init

# node_modules may be a symlink (git worktrees share the main checkout's): tar the directory it names
NM=$(readlink -f node_modules)
tree_tar "$NM"

PHASES=(write read untar ls md5 rm)
START=$(date -u +%H:%M)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
RLOADS=
for round in $(seq 1 "$ROUNDS"); do
  RLOADS+="$(cut -d' ' -f1 /proc/loadavg) "
  for v in $(rotation "$round"); do
    d=$(setup $v)
    mnt $v
    tc $v write dd if=/dev/zero of="$d/zero" bs=131072 count=2000 conv=fsync
    mnt $v
    tc $v read dd if="$d/zero" of=/dev/null bs=131072 count=2000
    rm -f "$d/zero"
    mnt $v
    tc $v untar tar -xf "$TAR" -C "$d"
    mnt $v
    tc $v ls ls -lR "$d"
    mnt $v
    tc $v md5 sh -c "find '$d' -type f -print0 | xargs -0 md5sum"
    mnt $v
    tc $v rm rm -rf "$d/node_modules"
    echo "  $v: $(for p in write read untar ls md5 rm; do printf '%s %.2f s (CPU %.2f)  ' "$p" "${R[$v,$p,$round]}" "${C[$v,$p,$round]}"; done)" >&2
  done
  echo "round $round done ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done

medians "${PHASES[@]}"

mb() { echo "scale=0; 262.144 / $1" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }             # wall: A / B, 2 decimals
cratio() { echo "scale=2; $1 / ($2 + 0.001)" | bc; }   # CPU: B may be 0
# the homecrypt builds of this run, oldest first: before (BEFORE), before2 (BEFORE2), cross (CROSS), this checkout
HV=(); for v in before before2 cross homecrypt; do [[ " ${VARIANTS[*]} " == *" $v "* ]] && HV+=("$v"); done
out=bench/results/canonical-$(date -u +%Y%m%dT%H%MZ).md
mkdir -p bench/results
{
  echo "Canonical benchmark, $(date -u +%Y-%m-%d) $START–$(date -u +%H:%M) UTC, $(nproc) CPUs, $(uname -r), median of $ROUNDS interleaved rounds; load average (1/5/15 min) at start $LOAD0, at end $(cut -d' ' -f1-3 /proc/loadavg), 1-min load at each round's start: ${RLOADS:-}."
  echo "Tree: node_modules of this checkout, $NFILES files, $(du -sh "$TAR" | cut -f1) tar. Times in seconds (write/read also MB/s)."
  echo
  if [ -n "${OLD:-}" ]; then revisions; echo; fi
  echo "| phase | plain | gocryptfs |$(printf ' %s |' "${HV[@]}")$(printf ' %s / gocryptfs |' "${HV[@]}")"
  echo "|---|---|---|$(printf -- '---|%.0s' "${HV[@]}" "${HV[@]}")"
  for p in "${PHASES[@]}"; do
    extra() { if [ "$p" = write ] || [ "$p" = read ]; then echo " ($(mb "${M[$1,$p]}") MB/s)"; fi; }
    line=$(printf '| %s | %.2f%s | %.2f%s |' "$p" "${M[plain,$p]}" "$(extra plain)" "${M[gocryptfs,$p]}" "$(extra gocryptfs)")
    for v in "${HV[@]}"; do line+=$(printf ' %.2f%s |' "${M[$v,$p]}" "$(extra "$v")"); done
    for v in "${HV[@]}"; do line+=" $(ratio "${M[$v,$p]}" "${M[gocryptfs,$p]}") |"; done
    echo "$line"
  done
  echo
  echo "CPU seconds used by the filesystem daemon in each phase (user + system, all threads; median):"
  echo
  echo "| phase | gocryptfs CPU s |$(printf ' %s CPU s |' "${HV[@]}")$(printf ' %s / gocryptfs |' "${HV[@]}")"
  echo "|---|---|$(printf -- '---|%.0s' "${HV[@]}" "${HV[@]}")"
  for p in "${PHASES[@]}"; do
    line=$(printf '| %s | %.2f |' "$p" "${MC[gocryptfs,$p]}")
    for v in "${HV[@]}"; do line+=$(printf ' %.2f |' "${MC[$v,$p]}"); done
    for v in "${HV[@]}"; do line+=" $(cratio "${MC[$v,$p]}" "${MC[gocryptfs,$p]}") |"; done
    echo "$line"
  done
  if [ -n "${OLD:-}" ]; then
    echo
    echo "This checkout against \"before\": the change of its ratio to gocryptfs (from the medians above), and the median over the rounds of homecrypt / before within each round (paired, so gocryptfs's own spread drops out):"
    echo
    echo "| phase | ratio to gocryptfs, change | homecrypt / before, paired median |"
    echo "|---|---|---|"
    for p in "${PHASES[@]}"; do
      pr=(); for r in $(seq 1 "$ROUNDS"); do pr+=("$(echo "scale=4; ${R[homecrypt,$p,$r]} / ${R[before,$p,$r]}" | bc)"); done
      printf '| %s | %+.1f %% | %.3f |\n' "$p" "$(echo "scale=4; (${M[homecrypt,$p]} / ${M[before,$p]} - 1) * 100" | bc)" "$(median "${pr[@]}")"
    done
  fi
  echo
  echo '```'
  echo "homecrypt / gocryptfs time ratio (| = 1.0, each # = 0.1)"
  for p in "${PHASES[@]}"; do
    ratio=$(echo "scale=2; ${M[homecrypt,$p]} / ${M[gocryptfs,$p]}" | bc)
    n=$(echo "($ratio * 10 + 0.5) / 1" | bc)
    bar=$(printf '%*s' "$n" '' | tr ' ' '#')
    [ "$n" -ge 10 ] && bar="${bar:0:10}|${bar:10}"
    printf '%-6s %-40s %s\n' "$p" "$bar" "$ratio"
  done
  echo '```'
} | tee "$out"
echo "(saved to $out)" >&2
