#!/usr/bin/env bash
# Unlock time of a key store with the default parameters on this machine: the
# Argon2id calibration homecrypt does at `key create` (target 1 s), then the
# time of each unwrap, next to cryptsetup (LUKS2, Argon2id, --iter-time 1000)
# opening its header with --test-passphrase on the same machine in the same run.
#   bash bench/unlock.sh [RUNS]     (default 5 runs; needs ./run build first)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
RUNS=${1:-5}
work=$(mktemp -d /tmp/hc-bench-unlock-XXXXXX)
trap 'rm -rf "$work"' EXIT

node --input-type=module - "$work" "$RUNS" <<'JS'
import { createKeyStore, readKeyStoreInfo, unwrapKeyStore } from './dist/keys/key-store.js';
const [dir, runs] = [process.argv[2], Number(process.argv[3])];
const pass = Buffer.from('benchmark passphrase');
let t = process.hrtime.bigint();
await createKeyStore(`${dir}/keystore`, { passphrase: pass });
const createMs = Number(process.hrtime.bigint() - t) / 1e6;
const kdf = readKeyStoreInfo(`${dir}/keystore`).slots[0].kdf;
const times = [];
for (let i = 0; i < runs; i++) {
  t = process.hrtime.bigint();
  await unwrapKeyStore(`${dir}/keystore`, pass);
  times.push(Number(process.hrtime.bigint() - t) / 1e6);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(`homecrypt default parameters: argon2id t=${kdf.iterations} m=${kdf.memoryKiB / 1024} MiB p=${kdf.parallelism}`);
console.log(`homecrypt key create (calibration + 2 slots): ${createMs.toFixed(0)} ms`);
console.log(`homecrypt unlock (login slot), ${runs} runs: median ${median.toFixed(0)} ms, min ${times[0].toFixed(0)} ms, max ${times.at(-1).toFixed(0)} ms`);
import('node:fs').then((fs) => fs.writeFileSync(`${dir}/homecrypt.ms`, String(median)));
JS

if command -v cryptsetup >/dev/null; then
  truncate -s 32M "$work/luks.img"
  printf 'benchmark passphrase' | cryptsetup luksFormat --batch-mode --type luks2 --pbkdf argon2id \
    --iter-time 1000 --key-file - "$work/luks.img" >/dev/null
  times=()
  for _ in $(seq "$RUNS"); do
    s=$(date +%s%N)
    printf 'benchmark passphrase' | cryptsetup open --test-passphrase --key-file - "$work/luks.img"
    e=$(date +%s%N)
    times+=($(( (e - s) / 1000000 )))
  done
  med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  params=$(cryptsetup luksDump "$work/luks.img" | awk '/PBKDF:/{p=$2} /Time cost:/{t=$3} /Memory:/{m=$2} /Threads:/{th=$2} END{printf "t=%s m=%d MiB p=%s", t, m/1024, th}')
  echo "cryptsetup LUKS2 (--iter-time 1000): argon2id $params; unlock median ${med} ms"
  hc=$(cat "$work/homecrypt.ms")
  awk -v a="$hc" -v b="$med" 'BEGIN { printf "ratio homecrypt/cryptsetup unlock time: %.2f\n", a / b }'
else
  echo "cryptsetup not installed: no peer comparison"
fi
