#!/bin/bash
# Regenerates the committed eCryptfs vectors with the real kernel (refvm):
# a small plaintext tree written through kernel eCryptfs mounts in three
# configurations, plus the auth tokens ecryptfs-add-passphrase --fnek inserts
# and a wrapped-passphrase file from ecryptfs-wrap-passphrase (Debian 111).
# Usage: test/vectors/ecryptfs/generate.sh   (needs ../shared/refvm set up)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
W=$(mktemp -d /tmp/ecryptfs-vectors.XXXXXX); trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
mkdir -p "$W/plain/dir"
printf '' > "$W/plain/empty"
printf 'x' > "$W/plain/one"
printf 'hello, eCryptfs\n' > "$W/plain/hello.txt"
# 4097 bytes: two extents, the second with one byte
python3 -c "import sys; sys.stdout.buffer.write(bytes((i*7+3)%251 for i in range(4097)))" > "$W/plain/f4097"
printf 'nested\n' > "$W/plain/dir/nested.txt"
ln -s hello.txt "$W/plain/link"
printf 'VectorMountPass1' > "$W/mount-passphrase"
printf 'k16fnek 16 y\nk32fnek 32 y\nk24plain 24 n\n' > "$W/configs"
bash "$REPO/../shared/refvm/refvm.sh" --timeout 300 "$W" "$REPO/test/ecryptfs/refvm/kernel-interop-job.sh"
rm -rf "$HERE/kernel-"* "$HERE/plain" "$HERE"/authtok-*.bin
cp -a "$W/plain" "$HERE/plain"
for c in k16fnek k32fnek k24plain; do
  cp -a "$W/kernel-$c" "$HERE/kernel-$c"
  cp "$W/out/kernel-$c.upper.manifest" "$HERE/kernel-$c.manifest"
done
cp "$W/out/sigs" "$HERE/sigs"
cp "$W"/out/authtok-*.bin "$HERE/"
cp "$W/mount-passphrase" "$HERE/mount-passphrase"
# wrapped-passphrase v2 by the real tool (random salt: a fixed file to read)
printf 'VectorMountPass1\nVectorLoginPass2' | ecryptfs-wrap-passphrase "$HERE/wrapped-passphrase-v2" -
printf 'VectorLoginPass2' > "$HERE/login-passphrase"
echo "vectors written to $HERE"
