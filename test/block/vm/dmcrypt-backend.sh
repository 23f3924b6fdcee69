#!/usr/bin/env bash
# Manual check (not in the suite: Node under qemu TCG takes ~45 s per CLI call):
# homecrypt's dm-crypt backend against the real kernel. Boots ../shared/refvm
# with this checkout's build and a Node runtime on an extra disk, then in the VM:
# block format --mkfs ext4 (dm-crypt), block open --mount, write a file,
# a second open of the same device under another name is refused (exit 8),
# block status --json, block close; back on the host, the userspace engine reads
# the file the kernel wrote.       test/block/vm/dmcrypt-backend.sh   (root, ~5 min)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
refvm=$(readlink -f "$repo/../shared/refvm/refvm.sh")
W=$(mktemp -d /var/tmp/hc-dmcrypt-check.XXXXXX)
export HOMECRYPT_BLOCK_STATE_DIR=$W/state
trap '"$repo/bin/homecrypt" block close dmcheck >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
mkdir -p "$W/rt/rt/lib" "$W/rt/repo/node_modules" "$W/share"
cp "$(readlink -f "$(command -v node)")" "$W/rt/rt/node"
for l in $(ldd "$(command -v node)" | awk '/=> \//{print $3}'); do cp -L "$l" "$W/rt/rt/lib/"; done
cp -a "$repo/bin" "$repo/dist" "$repo/package.json" "$W/rt/repo/"
(cd "$repo/node_modules" && tar cf - --exclude=typescript --exclude=@rolldown --exclude=vite --exclude='lightningcss*' \
  --exclude=vitest --exclude=@vitest --exclude=fuse-shared-library-darwin --exclude=@types .) | (cd "$W/rt/repo/node_modules" && tar xf -)
mkfs.ext4 -q -F -d "$W/rt" "$W/rt.img" 300M
truncate -s 48M "$W/share/dm.img"
printf 'dm-crypt backend check\n' > "$W/share/pass"
cat > "$W/share/job.sh" <<'JOB'
#!/bin/sh
export LD_LIBRARY_PATH=/rt/rt/lib DM_DISABLE_UDEV=1 HOME=/root
t() { cut -d' ' -f1 /proc/uptime; }
mkdir -p /rt && mount -t ext4 -o ro /dev/vda /rt || exit 9
HC="/rt/rt/node /rt/repo/bin/homecrypt"
dev=$(losetup -f --show /host/dm.img) || exit 9
# --force: the VM's busybox has no wipefs to look for existing data with (the image is fresh)
$HC block format "$dev" --mkfs ext4 --kdf-time 0.05 --force --passphrase-fd 0 < /host/pass || exit 1
echo "[$(t)] format ok"
$HC block open "$dev" dmv --mount /mnt/d --passphrase-fd 0 < /host/pass || exit 2
echo "written by the kernel's dm-crypt" > /mnt/d/hello.txt
$HC block open /host/dm.img dmv2 --passphrase-fd 0 < /host/pass; [ $? = 8 ] || exit 6
[ ! -e /dev/mapper/dmv2 ] || exit 7
$HC block status --json > /host/status.json || exit 3
$HC block close dmv || exit 4
[ ! -e /dev/mapper/dmv ] || exit 5
echo "[$(t)] closed"
losetup -d "$dev"
JOB
chmod +x "$W/share/job.sh"
"$refvm" --timeout 600 --disk "$W/rt.img" "$W/share" "$W/share/job.sh"
grep -q '"backend": "dm-crypt"' "$W/share/status.json" || { echo "status did not show the dm-crypt backend" >&2; exit 1; }
"$repo/bin/homecrypt" block open "$W/share/dm.img" dmcheck --mount "$W/m" --backend userspace --passphrase-fd 3 3<"$W/share/pass" >/dev/null
got=$(cat "$W/m/hello.txt")
"$repo/bin/homecrypt" block close dmcheck
[ "$got" = "written by the kernel's dm-crypt" ] || { echo "read back: $got" >&2; exit 1; }
echo "dm-crypt backend check: ok"
