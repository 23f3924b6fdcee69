#!/usr/bin/env bash
# Regenerates the LUKS2 vectors in this folder from the real peers: cryptsetup
# writes each header (on the host, on an image file), and the kernel's dm-crypt
# writes each data segment (inside ../shared/refvm, Debian's kernel). The
# suite then checks that homecrypt reads both byte for byte.
#   test/vectors/luks2/make-vectors.sh      (root; boots the refvm once)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
refvm=$(readlink -f "$here/../../../../shared/refvm/refvm.sh")
work=$(mktemp -d /tmp/luks2-vectors.XXXXXX)
trap 'rm -rf "$work"' EXIT
DATA=32768

# the known plaintext: 32-byte blocks sha256("homecrypt-luks2-vector" || be32(k))
python3 - "$work/plain.bin" $DATA <<'PY'
import hashlib, struct, sys
out, n = sys.argv[1], int(sys.argv[2])
b = b''.join(hashlib.sha256(b'homecrypt-luks2-vector' + struct.pack('>I', k)).digest() for k in range(n // 32))
open(out, 'wb').write(b)
PY

make() {  # make NAME KEYBITS SECTOR PBKDF-ARGS...
  local name=$1 bits=$2 sector=$3; shift 3
  python3 -c "import hashlib,sys;open('$work/$name.vk','wb').write(hashlib.sha512(b'$name volume key').digest()[:$bits//8])"
  printf '%s' "passphrase for $name" > "$work/$name.pass"
  truncate -s $((294912 + DATA)) "$work/$name.img"
  cryptsetup luksFormat --type luks2 --batch-mode --cipher aes-xts-plain64 --key-size "$bits" --sector-size "$sector" \
    --luks2-metadata-size 16k --luks2-keyslots-size 256k --offset 576 \
    --volume-key-file "$work/$name.vk" --key-file "$work/$name.pass" --uuid "$(python3 -c "import uuid;print(uuid.uuid5(uuid.NAMESPACE_DNS,'$name.homecrypt.test'))")" \
    "$@" "$work/$name.img"
}
make argon2id-xts512-4k 512 4096 --pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 8192 --pbkdf-parallel 1
make pbkdf2-xts256-512 256 512 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --hash sha256

cat > "$work/job.sh" <<'JOB'
#!/bin/sh
# inside the VM: write the known plaintext through dm-crypt into each image
set -e
export DM_DISABLE_UDEV=1
for name in argon2id-xts512-4k pbkdf2-xts256-512; do
  dev=$(losetup -f --show /host/$name.img)
  cryptsetup open --type luks2 --key-file /host/$name.pass "$dev" v
  dd if=/host/plain.bin of=/dev/mapper/v bs=4096 oflag=direct status=none
  sync
  cryptsetup close v
  losetup -d "$dev"
  echo "$name written"
done
JOB
"$refvm" --timeout 120 "$work" "$work/job.sh"

for name in argon2id-xts512-4k pbkdf2-xts256-512; do
  gzip -9n -c "$work/$name.img" > "$here/$name.img.gz"
  python3 - "$work" "$name" "$here/$name.json" <<'PY'
import json, sys, hashlib, subprocess
work, name, out = sys.argv[1:]
meta = json.loads(subprocess.check_output(['cryptsetup', 'luksDump', '--dump-json-metadata', f'{work}/{name}.img']))
json.dump({
  'description': f'{name}: header by cryptsetup luksFormat, data written through the kernel dm-crypt (refvm)',
  'passphrase': open(f'{work}/{name}.pass').read(),
  'volumeKeyHex': open(f'{work}/{name}.vk', 'rb').read().hex(),
  'plaintext': 'blocks of sha256("homecrypt-luks2-vector" || be32(k)), 32 bytes each',
  'plaintextBytes': 32768,
  'plaintextSha256': hashlib.sha256(open(f'{work}/plain.bin', 'rb').read()).hexdigest(),
  'imageSha256': hashlib.sha256(open(f'{work}/{name}.img', 'rb').read()).hexdigest(),
  'metadata': meta,
}, open(out, 'w'), indent=2)
PY
done
echo "vectors written to $here"
