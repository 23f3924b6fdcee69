#!/bin/sh
# Runs inside ../shared/refvm (Debian's kernel, real dm-crypt), /host = the test's share:
#   1. each hc-*.img (homecrypt formatted + filled through its userspace engine)
#      is opened with cryptsetup, mounted read-only and listed (→ hc-*.listing);
#   2. cs.img is luksFormat'ed by cryptsetup, filled with /host/src through
#      dm-crypt (→ read back on the host by homecrypt).
set -u
export DM_DISABLE_UDEV=1
. /host/listing.sh
mkdir -p /mnt/v
fail=0
for img in /host/hc-*.img; do
  tag=$(basename "$img" .img)
  dev=$(losetup -f --show "$img") || exit 1
  if cryptsetup open --type luks2 --key-file /host/hc.key "$dev" "$tag" && mount -t ext4 -o ro "/dev/mapper/$tag" /mnt/v; then
    listing /mnt/v > "/host/$tag.listing"
    cryptsetup status "$tag" | sed -n 's/^ *\(cipher\|keysize\|sector size\): */\1=/p' > "/host/$tag.status"
    umount /mnt/v
    cryptsetup close "$tag"
    echo "$tag: read by dm-crypt"
  else
    echo "$tag: cryptsetup/mount FAILED"; fail=1
  fi
  losetup -d "$dev"
done
dev=$(losetup -f --show /host/cs.img) || exit 1
cryptsetup luksFormat --type luks2 --batch-mode --key-file /host/cs.key \
  --pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 8192 --pbkdf-parallel 1 "$dev" || exit 1
cryptsetup open --type luks2 --key-file /host/cs.key "$dev" cs || exit 1
mkfs.ext4 -q -F /dev/mapper/cs || exit 1
mount -t ext4 /dev/mapper/cs /mnt/v || exit 1
cp -R -P /host/src/. /mnt/v/ || exit 1
umount /mnt/v
cryptsetup close cs
losetup -d "$dev"
echo "cs: formatted and filled by dm-crypt"
exit $fail
