#!/usr/bin/env bash
# Block mode: streaming read/write and 4k random IOPS through homecrypt's
# userspace LUKS2 engine (FUSE file + loop + ext4) against a plain loop-mounted
# ext4 image, in the same run, interleaved. fio with O_DIRECT on the mounted
# filesystem (so the filesystem's page cache does not answer for either side).
#   bash bench/block-bench.sh [--rounds N] [--size MiB] [--runtime S] [--compare-node] [--write-docs]
# --compare-node adds a second homecrypt volume whose engine keeps AES-XTS on
# Node's crypto (HOMECRYPT_NODE_CRYPTO=1) instead of libcrypto, in the same run.
# Prints a table of medians and the ratio homecrypt/plain; --write-docs puts it
# into docs/BENCHMARKS.md (section "Block mode"). A benchmark, not a test.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROUNDS=3 SIZE=256 RUNTIME=10 WRITE_DOCS=0 COMPARE_NODE=0
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2;; --size) SIZE=$2; shift 2;; --runtime) RUNTIME=$2; shift 2;;
    --write-docs) WRITE_DOCS=1; shift;; --compare-node) COMPARE_NODE=1; shift;; *) echo "unknown option $1" >&2; exit 2;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "block-bench: needs root (loop devices, mounts)" >&2; exit 1; }
command -v fio >/dev/null || { echo "block-bench: fio is not installed (./run installs it)" >&2; exit 1; }

W=$(mktemp -d /var/tmp/homecrypt-block-bench.XXXXXX)
export HOMECRYPT_BLOCK_STATE_DIR=$W/state
PLAIN_LOOP=
cleanup() {
  bin/homecrypt block close bench >/dev/null 2>&1 || true
  [ "$COMPARE_NODE" = 1 ] && { bin/homecrypt block close bench-node >/dev/null 2>&1 || true; }
  mountpoint -q "$W/plain" && umount "$W/plain"
  [ -n "$PLAIN_LOOP" ] && losetup -d "$PLAIN_LOOP" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
IMG_MB=$((SIZE * 2 + 64))

# plain: an ext4 image on a loop device with 4096-byte logical sectors (as the engine's)
truncate -s ${IMG_MB}M "$W/plain.img"
PLAIN_LOOP=$(losetup --find --show --sector-size 4096 "$W/plain.img")
mkfs.ext4 -q -F "$PLAIN_LOOP"
mkdir -p "$W/plain"; mount "$PLAIN_LOOP" "$W/plain"

# homecrypt: LUKS2 (aes-xts-plain64, 4096-byte sectors) through the userspace engine
truncate -s $((IMG_MB + 16))M "$W/hc.img"
printf 'block bench passphrase\n' > "$W/pass"
bin/homecrypt block format "$W/hc.img" --mkfs ext4 --kdf-time 0.1 --backend userspace --passphrase-fd 3 3<"$W/pass" >/dev/null 2>&1
bin/homecrypt block open "$W/hc.img" bench --mount "$W/hc" --backend userspace --passphrase-fd 3 3<"$W/pass" >/dev/null
SIDES=(plain hc)
if [ "$COMPARE_NODE" = 1 ]; then
  truncate -s $((IMG_MB + 16))M "$W/hcnode.img"
  bin/homecrypt block format "$W/hcnode.img" --mkfs ext4 --kdf-time 0.1 --backend userspace --passphrase-fd 3 3<"$W/pass" >/dev/null 2>&1
  HOMECRYPT_NODE_CRYPTO=1 bin/homecrypt block open "$W/hcnode.img" bench-node --mount "$W/hcnode" --backend userspace --passphrase-fd 3 3<"$W/pass" >/dev/null
  SIDES=(plain hc hcnode)
fi

COMMON="--direct=1 --ioengine=libaio --group_reporting --output-format=json"
job() {  # job NAME DIR → one number: MB/s for streaming, IOPS for random
  local name=$1 dir=$2 out
  case $name in
    seq-write) out=$(fio --name=j --filename="$dir/seq" --rw=write --bs=1M --size=${SIZE}M --iodepth=4 --end_fsync=1 $COMMON);;
    seq-read)  out=$(fio --name=j --filename="$dir/seq" --rw=read --bs=1M --size=${SIZE}M --iodepth=4 $COMMON);;
    rand-read) out=$(fio --name=j --filename="$dir/seq" --rw=randread --bs=4k --size=${SIZE}M --iodepth=16 --runtime=$RUNTIME --time_based $COMMON);;
    rand-write) out=$(fio --name=j --filename="$dir/seq" --rw=randwrite --bs=4k --size=${SIZE}M --iodepth=16 --runtime=$RUNTIME --time_based $COMMON);;
  esac
  printf '%s' "$out" | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]; name = sys.argv[1]
side = j["write"] if "write" in name else j["read"]
print(round(side["bw_bytes"] / 1e6, 1) if name.startswith("seq") else round(side["iops"]))' "$name"
}

JOBS=(seq-write seq-read rand-read rand-write)
declare -A R
for ((r = 1; r <= ROUNDS; r++)); do
  for j in "${JOBS[@]}"; do
    for side in "${SIDES[@]}"; do
      v=$(job "$j" "$W/$side")
      R[$j,$side]="${R[$j,$side]:-} $v"
      echo "round $r $j $side: $v" >&2
    done
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
load=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$COMPARE_NODE" = 1 ]; then
  table="| ${ROUNDS} rounds, ${SIZE} MiB file, load avg ${load} | plain loop ext4 | homecrypt, XTS on libcrypto | ratio | homecrypt, XTS on Node crypto | ratio |
|---|---:|---:|---:|---:|---:|"
else
  table="| ${ROUNDS} rounds, ${SIZE} MiB file, load avg ${load} | plain loop ext4 | homecrypt userspace | ratio |
|---|---:|---:|---:|"
fi
for j in "${JOBS[@]}"; do
  p=$(echo "${R[$j,plain]}" | median); h=$(echo "${R[$j,hc]}" | median)
  unit=$([ "${j%%-*}" = seq ] && echo MB/s || echo IOPS)
  ratio=$(python3 -c "print(f'{$h/$p:.2f}' if $p else '-')")
  row="| $j ($unit) | $p | $h | $ratio |"
  if [ "$COMPARE_NODE" = 1 ]; then
    n=$(echo "${R[$j,hcnode]}" | median)
    row+=" $n | $(python3 -c "print(f'{$n/$p:.2f}' if $p else '-')") |"
  fi
  table+="
$row"
done
echo "$table"

if [ "$WRITE_DOCS" = 1 ]; then
  python3 - "$table" "$(date -u +%Y-%m-%d)" <<'PY'
import re, sys
table, day = sys.argv[1], sys.argv[2]
path = 'docs/BENCHMARKS.md'
try:
    text = open(path).read()
except FileNotFoundError:
    text = '# Benchmarks\n'
start, end = '<!-- block-bench:start -->', '<!-- block-bench:end -->'
block = f'{start}\nLast run {day} (`bash bench/block-bench.sh --write-docs`):\n\n{table}\n{end}'
if start in text:
    text = re.sub(re.escape(start) + '.*?' + re.escape(end), lambda m: block, text, flags=re.S)
elif '## Block mode' in text:
    text = text.replace('## Block mode\n', '## Block mode\n\n' + block + '\n', 1)
else:
    text = text.rstrip('\n') + '\n\n## Block mode (`bench/block-bench.sh`)\n\n' + block + '\n'
open(path, 'w').write(text)
PY
fi
