#!/usr/bin/env bash
# Runs the benchmarks (./run bench). Each line of BENCHES is one script in
# bench/; add yours there. `./run bench NAME...` runs only the scripts named.
# Benchmarks print their results; they are not tests and never fail on a slow machine.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

BENCHES=(
  unlock.sh        # key-store unlock time of the default Argon2id parameters (vs cryptsetup LUKS2)
  canonical.sh     # the engine: gocryptfs's canonical benchmark, plain vs gocryptfs vs homecrypt
  home.sh          # the engine on what a home does (git, sqlite, parallel fio, cold reads): plain vs gocryptfs vs securefs vs homecrypt
  login.sh         # what homecrypt adds to a PAM login (auth + open_session), vs a plain login
  pam-module.sh    # what the PAM lines cost a user without homecrypt: pam_homecrypt.so, pam_exec, plain
  block-bench.sh   # block mode: userspace LUKS2 engine vs a plain loop-mounted image (fio)
  bridges.sh       # FUSE bridges: canonical benchmark on fuse-native vs the kernel bridge, per-op latency
)

want=("$@")
failed=()
for b in "${BENCHES[@]}"; do
  if [ ${#want[@]} -gt 0 ]; then
    match=0
    for w in "${want[@]}"; do [ "$w" = "$b" ] || [ "$w" = "${b%.*}" ] && match=1; done
    [ $match = 1 ] || continue
  fi
  echo "=== bench/$b"
  # one failing benchmark does not stop the others; the run says which failed
  rc=0
  bash "./$b" || rc=$?
  [ $rc = 0 ] || { echo "bench/$b failed (exit $rc)"; failed+=("$b"); }
  echo
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}"
  exit 1
fi
