#!/usr/bin/env bash
# The canonical benchmark of gocryptfs (upstream tests/canonical-benchmarks.bash):
# streaming write and read of 2000 x 128 KiB, untar of a source tree, ls -lR,
# md5sum of every file, rm -rf — on the plain lower filesystem, on gocryptfs
# (Debian package) and on homecrypt, interleaved in one run, ROUNDS rounds,
# medians, and the ratio homecrypt / gocryptfs (time; lower is better).
# The tree is a reproducible tarball of this checkout's node_modules.
# Usage: bench/canonical.sh [ROUNDS]   (root; writes bench/results/canonical-*.md)
#        BEFORE=REV bench/canonical.sh [ROUNDS]   also runs homecrypt built from git
#        revision REV ("before" column), interleaved in the same rounds, so a change
#        is compared with the code before it on the same machine at the same moment
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROUNDS=${1:-3}
W=$(mktemp -d /tmp/hc-bench-XXXXXX)
PASS=bench-passphrase
cleanup() {
  for m in "$W"/gocryptfs/mnt "$W"/homecrypt/mnt "$W"/before/mnt; do fusermount -u -z "$m" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT

# run from a snapshot of the build, so a rebuild during the run cannot change it
APP=$W/app
mkdir -p "$APP"
cp -r dist bin package.json "$APP/"
ln -s "$PWD/node_modules" "$APP/node_modules"
HC=$APP/bin/homecrypt
"$HC" --help >/dev/null || { echo "bench: dist/ does not run (./run build first)" >&2; exit 1; }
VARIANTS=(plain gocryptfs homecrypt)
if [ -n "${BEFORE:-}" ]; then
  OLD=$W/before
  mkdir -p "$OLD"
  git archive "$BEFORE" | tar -x -C "$OLD"
  ln -s "$PWD/node_modules" "$OLD/node_modules"
  (cd "$OLD" && npx tsc -p tsconfig.json) || { echo "bench: $BEFORE does not build" >&2; exit 1; }
  VARIANTS+=(before)
fi
hc_of() { case $1 in before) echo "$OLD/bin/homecrypt" ;; *) echo "$HC" ;; esac; }

TAR=$W/tree.tar
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$TAR" node_modules
NFILES=$(tar -tf "$TAR" | grep -vc '/$')

setup() { # variant → prints the directory to work in
  local v=$1
  case $v in
    plain) mkdir -p "$W/plain/dir"; echo "$W/plain/dir" ;;
    gocryptfs)
      mkdir -p "$W/gocryptfs/cipher" "$W/gocryptfs/mnt"
      [ -f "$W/gocryptfs/cipher/gocryptfs.conf" ] || gocryptfs -q -init -scryptn 10 -extpass "echo $PASS" "$W/gocryptfs/cipher" >/dev/null
      echo "$W/gocryptfs/mnt" ;;
    homecrypt|before)
      mkdir -p "$W/$v/mnt"
      [ -f "$W/$v/lower/homecrypt.conf" ] || echo "$PASS" | "$(hc_of "$v")" init "$W/$v/lower" --passphrase-fd 0 --kdf-time 0.05 >/dev/null
      echo "$W/$v/mnt" ;;
  esac
}
mnt() { # (re)mount a variant, so every phase starts with cold FUSE caches
  local v=$1
  case $v in
    gocryptfs) fusermount -u "$W/gocryptfs/mnt" 2>/dev/null || true
      gocryptfs -q -extpass "echo $PASS" "$W/gocryptfs/cipher" "$W/gocryptfs/mnt" 2>/dev/null ;;
    homecrypt|before) "$(hc_of "$v")" umount "$W/$v/mnt" 2>/dev/null || fusermount -u -z "$W/$v/mnt" 2>/dev/null || true
      echo "$PASS" | "$(hc_of "$v")" mount "$W/$v/lower" "$W/$v/mnt" --passphrase-fd 0 --log-file "$W/$v.log" ;;
  esac
}
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
# CPU seconds (user + system, all threads) the filesystem daemon has used: on a
# shared, loaded machine this says more about cost than wall time does
TCK=$(getconf CLK_TCK)
daemon_pid() {
  case $1 in
    gocryptfs) pgrep -n -f "gocryptfs .*$W/gocryptfs/cipher" || true ;;
    homecrypt|before) grep -o '(pid [0-9]*)' "$W/$1.log" | tail -1 | tr -dc 0-9 ;;
    *) echo "" ;;
  esac
}
cpu() { local pid=$1; [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || { echo 0; return; }
  awk -v t="$TCK" '{ sub(/.*\) /, ""); print ($12 + $13) / t }' "/proc/$pid/stat"; }
# tc VARIANT PHASE CMD...: wall time into R, daemon CPU time into C
tc() {
  local v=$1 p=$2; shift 2
  local pid c0 c1
  pid=$(daemon_pid "$v"); c0=$(cpu "$pid")
  R[$v,$p,$round]=$(t "$@")
  c1=$(cpu "$pid")
  C[$v,$p,$round]=$(echo "$c1 - $c0" | bc)
}

PHASES=(write read untar ls md5 rm)
declare -A R C
for round in $(seq 1 "$ROUNDS"); do
  for v in "${VARIANTS[@]}"; do
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
  done
  echo "round $round done" >&2
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A M MC
for v in "${VARIANTS[@]}"; do
  for p in "${PHASES[@]}"; do
    vals=(); cvals=(); for r in $(seq 1 "$ROUNDS"); do vals+=("${R[$v,$p,$r]}"); cvals+=("${C[$v,$p,$r]}"); done
    M[$v,$p]=$(median "${vals[@]}")
    MC[$v,$p]=$(median "${cvals[@]}")
  done
done

mb() { echo "scale=0; 262.144 / $1" | bc; }
out=bench/results/canonical-$(date -u +%Y%m%dT%H%MZ).md
mkdir -p bench/results
{
  echo "Canonical benchmark, $(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -r), median of $ROUNDS interleaved rounds."
  echo "Tree: node_modules of this checkout, $NFILES files, $(du -sh "$TAR" | cut -f1) tar. Times in seconds (write/read also MB/s)."
  echo
  if [ -n "${OLD:-}" ]; then
    echo "\"before\" is homecrypt at $(git rev-parse --short "$BEFORE"), \"homecrypt\" this checkout ($(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ', with changes'))."
    echo
    echo "| phase | plain | gocryptfs | before | homecrypt | before / gocryptfs | homecrypt / gocryptfs |"
    echo "|---|---|---|---|---|---|---|"
  else
    echo "| phase | plain | gocryptfs | homecrypt | homecrypt / gocryptfs |"
    echo "|---|---|---|---|---|"
  fi
  for p in "${PHASES[@]}"; do
    ratio=$(echo "scale=2; ${M[homecrypt,$p]} / ${M[gocryptfs,$p]}" | bc)
    extra() { if [ "$p" = write ] || [ "$p" = read ]; then echo " ($(mb "${M[$1,$p]}") MB/s)"; fi; }
    if [ -n "${OLD:-}" ]; then
      bratio=$(echo "scale=2; ${M[before,$p]} / ${M[gocryptfs,$p]}" | bc)
      printf '| %s | %.2f%s | %.2f%s | %.2f%s | %.2f%s | %s | %s |\n' "$p" "${M[plain,$p]}" "$(extra plain)" "${M[gocryptfs,$p]}" "$(extra gocryptfs)" \
        "${M[before,$p]}" "$(extra before)" "${M[homecrypt,$p]}" "$(extra homecrypt)" "$bratio" "$ratio"
    else
      printf '| %s | %.2f%s | %.2f%s | %.2f%s | %s |\n' "$p" "${M[plain,$p]}" "$(extra plain)" "${M[gocryptfs,$p]}" "$(extra gocryptfs)" \
        "${M[homecrypt,$p]}" "$(extra homecrypt)" "$ratio"
    fi
  done
  echo
  echo "CPU seconds used by the filesystem daemon in each phase (user + system, all threads; median):"
  echo
  echo "| phase | gocryptfs CPU s | homecrypt CPU s | homecrypt / gocryptfs |"
  echo "|---|---|---|---|"
  for p in "${PHASES[@]}"; do
    cr=$(echo "scale=2; ${MC[homecrypt,$p]} / (${MC[gocryptfs,$p]} + 0.001)" | bc)
    printf '| %s | %.2f | %.2f | %s |\n' "$p" "${MC[gocryptfs,$p]}" "${MC[homecrypt,$p]}" "$cr"
  done
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
