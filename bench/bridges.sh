#!/usr/bin/env bash
# The FUSE bridges side by side (issue 8): gocryptfs's canonical benchmark
# (upstream tests/canonical-benchmarks.bash: dd 2000 x 128 KiB write, plus the
# read back; untar; ls -lR; md5sum of every file; rm -rf) on the plain lower
# directory, gocryptfs, and homecrypt on each bridge, interleaved round by
# round so machine load hits every target alike. Prints seconds (median over
# the rounds) and the ratio to gocryptfs. Then the per-operation latency of
# each bridge with no crypto at all (a passthrough, caches off, a stat loop).
#
#   bench/bridges.sh [ROUNDS]        (default 3; needs root, /dev/fuse, gocryptfs, a built dist/)
#   BRIDGES_TARGETS="plain gocryptfs hc-native hc-kernel" to choose targets (also
#   hc-kernel-nospin: no spin; hc-kernel-noplus: no READDIRPLUS; hc-kernel-wb: the
#   kernel's writeback cache; hc-base: hc-kernel from the built checkout at
#   $BRIDGES_BASE, e.g. the code before a change, measured in the same run).
# Raw results go to bench/results/bridges-*.tsv (not committed).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROOT=$PWD
ROUNDS=${1:-3}
TARGETS=${BRIDGES_TARGETS:-"plain gocryptfs hc-native hc-kernel hc-kernel-nospin"}
command -v gocryptfs >/dev/null || { echo "gocryptfs is not installed (apt-get install gocryptfs)"; exit 1; }
[ -f dist/fuse/kernel/kernel-bridge.js ] || { echo "build first: npx tsc -p ."; exit 1; }

W=$(mktemp -d /tmp/hc-bench-bridges.XXXXXX)
MOUNTS=()
PIDS=()
cleanup() {
  cd /
  for m in "${MOUNTS[@]}"; do mountpoint -q "$m" && { umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; }; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT

# A reproducible source tree: this repository's node_modules, sorted, fixed owner
TARBALL=$W/tree.tar.gz
# (in a git worktree node_modules is a symlink to the main checkout's: tar what it points to)
NM=$(readlink -f "$ROOT/node_modules")
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$(dirname "$NM")" -czf "$TARBALL" "$(basename "$NM")"
mkdir "$W/ref" && tar xzf "$TARBALL" -C "$W/ref"
(cd "$W/ref" && find node_modules -type f -print0 | sort -z | xargs -0 md5sum) > "$W/md5sums"
FILES=$(wc -l < "$W/md5sums")
echo "tree: node_modules of this repo, $FILES files, $(du -sm "$W/ref" | cut -f1) MB; $ROUNDS rounds; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$W/ref"

wait_ready() { # file
  for _ in $(seq 100); do grep -q ready "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "mount did not come up: $(cat "$1" "$1.err" 2>/dev/null)"; return 1
}

# mount TARGET → sets DIR to the directory to work in
mount_target() {
  local t=$1 d=$W/$1
  rm -rf "$d"; mkdir -p "$d/lower" "$d/mnt"
  case $t in
    plain) DIR="$d/lower"; return ;;
    gocryptfs)
      printf 'bench-only passphrase\n' > "$d/pass"
      gocryptfs -q -init -scryptn=10 -passfile "$d/pass" "$d/lower" >/dev/null
      gocryptfs -q -nosyslog -passfile "$d/pass" "$d/lower" "$d/mnt" ;;
    hc-native) node "$ROOT/bench/bridge-serve.mjs" fuse-native homecrypt "$d/lower" "$d/mnt" > "$d/ready" 2> "$d/ready.err" &
      PIDS+=($!); wait_ready "$d/ready" ;;
    hc-kernel) node "$ROOT/bench/bridge-serve.mjs" kernel homecrypt "$d/lower" "$d/mnt" > "$d/ready" 2> "$d/ready.err" &
      PIDS+=($!); wait_ready "$d/ready" ;;
    hc-kernel-noplus) HOMECRYPT_BRIDGE_NOPLUS=1 node "$ROOT/bench/bridge-serve.mjs" kernel homecrypt "$d/lower" "$d/mnt" > "$d/ready" 2> "$d/ready.err" &
      PIDS+=($!); wait_ready "$d/ready" ;;
    hc-kernel-wb) HOMECRYPT_BRIDGE_WRITEBACK=1 node "$ROOT/bench/bridge-serve.mjs" kernel homecrypt "$d/lower" "$d/mnt" > "$d/ready" 2> "$d/ready.err" &
      PIDS+=($!); wait_ready "$d/ready" ;;
    hc-base) node "${BRIDGES_BASE:?set BRIDGES_BASE to a built checkout}/bench/bridge-serve.mjs" kernel homecrypt "$d/lower" "$d/mnt" > "$d/ready" 2> "$d/ready.err" &
      PIDS+=($!); wait_ready "$d/ready" ;;
    hc-kernel-nospin) HOMECRYPT_BRIDGE_SPIN=0 node "$ROOT/bench/bridge-serve.mjs" kernel homecrypt "$d/lower" "$d/mnt" > "$d/ready" 2> "$d/ready.err" &
      PIDS+=($!); wait_ready "$d/ready" ;;
  esac
  MOUNTS+=("$d/mnt")
  DIR="$d/mnt"
}

unmount_target() {
  local t=$1 d=$W/$1
  [ "$t" = plain ] && return 0
  cd /
  umount "$d/mnt" 2>/dev/null || umount -l "$d/mnt"
  sleep 0.3
  rm -rf "$d"
}

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

RES=$W/results.tsv
: > "$RES"
ROWS="write read untar ls md5 rm"
for r in $(seq "$ROUNDS"); do
  for t in $TARGETS; do
    mount_target "$t"
    cd "$DIR"
    sync
    a=$(now); dd if=/dev/zero of=zero bs=131072 count=2000 status=none; b=$(now)
    printf '%s\t%s\twrite\t%s\n' "$r" "$t" "$(secs "$a" "$b")" >> "$RES"
    a=$(now); dd if=zero of=/dev/null bs=131072 status=none; b=$(now)
    printf '%s\t%s\tread\t%s\n' "$r" "$t" "$(secs "$a" "$b")" >> "$RES"
    rm zero; sleep 1
    a=$(now); tar xzf "$TARBALL"; b=$(now)
    printf '%s\t%s\tuntar\t%s\n' "$r" "$t" "$(secs "$a" "$b")" >> "$RES"
    sleep 1
    a=$(now); ls -lR node_modules > /dev/null; b=$(now)
    printf '%s\t%s\tls\t%s\n' "$r" "$t" "$(secs "$a" "$b")" >> "$RES"
    sleep 1
    a=$(now); md5sum --quiet -c "$W/md5sums"; b=$(now)
    printf '%s\t%s\tmd5\t%s\n' "$r" "$t" "$(secs "$a" "$b")" >> "$RES"
    sleep 1
    a=$(now); rm -rf node_modules; b=$(now)
    printf '%s\t%s\trm\t%s\n' "$r" "$t" "$(secs "$a" "$b")" >> "$RES"
    unmount_target "$t"
    echo "round $r $t: $(awk -v r="$r" -v t="$t" '$1==r && $2==t {printf "%s=%.2fs ", $3, $4}' "$RES")"
  done
done
if [ "$ROUNDS" -gt 0 ]; then
mkdir -p "$ROOT/bench/results"
cp "$RES" "$ROOT/bench/results/bridges-$(date +%Y%m%d-%H%M%S).tsv"

echo
echo "Canonical benchmark, median seconds over $ROUNDS rounds (ratio to gocryptfs):"
node - "$RES" "$TARGETS" "$ROWS" <<'EOF'
const [file, targets, rows] = process.argv.slice(2);
const lines = require('fs').readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split('\t'));
const med = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const T = targets.split(' '), R = rows.split(' ');
const get = (t, r) => med(lines.filter((l) => l[1] === t && l[2] === r).map((l) => Number(l[3])));
console.log(['| target', ...R].join(' | ') + ' |');
console.log('|' + ' --- |'.repeat(R.length + 1));
for (const t of T) {
  console.log(`| ${t} | ` + R.map((r) => {
    const v = get(t, r), g = get('gocryptfs', r);
    return `${v.toFixed(2)} (${(v / g).toFixed(2)})`;
  }).join(' | ') + ' |');
}
EOF
fi

echo
echo "Per-operation latency, passthrough (no crypto), attr/entry caching off: us per stat(2) (= LOOKUP + GETATTR round trips)"
cat > "$W/statloop.mjs" <<'EOF'
import { statSync } from 'node:fs';
const [p, n] = [process.argv[2], Number(process.argv[3])];
for (let i = 0; i < 300; i++) statSync(p);
const t = process.hrtime.bigint();
for (let i = 0; i < n; i++) statSync(p);
console.log((Number(process.hrtime.bigint() - t) / n / 1000).toFixed(1));
EOF
LAT_RUNS=${LAT_RUNS:-3}
lat() { # label bridge env... → one measurement (us/stat) on a fresh mount
  local label=$1 br=$2; shift 2
  local d=$W/lat-$label; rm -rf "$d"; mkdir -p "$d/lower" "$d/mnt"; touch "$d/lower/f"
  env HOMECRYPT_BRIDGE_TIMEOUT=0 "$@" node "$ROOT/bench/bridge-serve.mjs" "$br" passthrough "$d/lower" "$d/mnt" > "$d/ready" 2> "$d/ready.err" &
  wait_ready "$d/ready" >&2
  node "$W/statloop.mjs" "$d/mnt/f" 5000
  umount "$d/mnt"; sleep 0.3
}
gocrypt_lat() {
  local d=$W/lat-gocryptfs; rm -rf "$d"; mkdir -p "$d/lower" "$d/mnt"
  printf 'bench-only passphrase\n' > "$d/pass"
  gocryptfs -q -init -scryptn=10 -passfile "$d/pass" "$d/lower" >/dev/null
  # -sharedstorage turns its attribute and entry caches off, as ours are off above
  gocryptfs -q -nosyslog -sharedstorage -passfile "$d/pass" "$d/lower" "$d/mnt" 2>/dev/null
  touch "$d/mnt/f"
  node "$W/statloop.mjs" "$d/mnt/f" 5000
  umount "$d/mnt"; sleep 0.3
}
# interleaved: each run measures every bridge once, so load changes hit all alike
declare -A LAT
for _ in $(seq "$LAT_RUNS"); do
  LAT[fuse-native]+="$(lat fuse-native fuse-native) "
  LAT[kernel-spin50]+="$(lat kernel-spin50 kernel HOMECRYPT_BRIDGE_SPIN=50) "
  LAT[kernel-nospin]+="$(lat kernel-nospin kernel HOMECRYPT_BRIDGE_SPIN=0) "
  LAT[gocryptfs]+="$(gocrypt_lat) "
done
echo "| bridge | us/stat, $LAT_RUNS runs | min |"
echo "| --- | --- | --- |"
for k in fuse-native kernel-spin50 kernel-nospin gocryptfs; do
  echo "| $k | ${LAT[$k]}| $(echo "${LAT[$k]}" | tr ' ' '\n' | grep . | sort -n | head -1) |"
done
