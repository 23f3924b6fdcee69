#!/bin/sh
# Runs inside refvm (Debian's kernel, which has eCryptfs). One boot does every
# kernel-side check of the eCryptfs interop test, so the suite pays for one VM:
#   1. for each config in /host/configs (one line: NAME KEYBYTES FNEK(y|n)),
#      the kernel writes /host/plain into /host/kernel-NAME (the lower dir);
#   2. for each homecrypt-written lower dir /host/hc-NAME, the kernel mounts it
#      and prints a manifest of what it reads (type, path, size, sha256, target);
#   3. ecryptfs-setup-private for a user whose home is /host/private/home/alice,
#      filled with /host/plain.
# Results go to /host/out/. Passphrases are test constants, not secrets.
set -u
H=/host
PASS=$(cat $H/mount-passphrase)
OUT=$H/out
rm -rf "$OUT"; mkdir -p "$OUT" /mnt/upper
cat /sys/fs/ecryptfs/version > $OUT/sysfs_version

manifest() {  # manifest DIR: one line per entry, sorted by path
  ( cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r f; do
      if [ -L "$f" ]; then printf 'l\t%s\t%s\n' "$f" "$(readlink "$f")"
      elif [ -d "$f" ]; then printf 'd\t%s\n' "$f"
      else printf 'f\t%s\t%s\t%s\n' "$f" "$(stat -c %s "$f")" "$(sha256sum < "$f" | cut -d' ' -f1)"; fi
    done )
}

add_keys() {
  keyctl clear @u >/dev/null 2>&1
  printf '%s' "$PASS" | ecryptfs-add-passphrase --fnek - > $OUT/add-passphrase.out || return 1
  SIG=$(sed -n '1s/.*\[\([0-9a-f]*\)\].*/\1/p' $OUT/add-passphrase.out)
  FNEK_SIG=$(sed -n '2s/.*\[\([0-9a-f]*\)\].*/\1/p' $OUT/add-passphrase.out)
  printf '%s\n%s\n' "$SIG" "$FNEK_SIG" > $OUT/sigs
}

kmount() {  # kmount LOWER KEYBYTES FNEK
  o="ecryptfs_sig=$SIG,ecryptfs_cipher=aes,ecryptfs_key_bytes=$2,ecryptfs_unlink_sigs"
  [ "$3" = y ] && o="$o,ecryptfs_fnek_sig=$FNEK_SIG"
  mount -i -t ecryptfs -o "$o" "$1" /mnt/upper
}

rc=0
add_keys || { echo "ecryptfs-add-passphrase failed"; exit 1; }
keyctl show @u
# the auth tok payloads, for the host to compare byte for byte
keyctl pipe "$(keyctl search @u user "$SIG")" > $OUT/authtok-$SIG.bin
keyctl pipe "$(keyctl search @u user "$FNEK_SIG")" > $OUT/authtok-$FNEK_SIG.bin

while read -r name kb fnek; do
  [ -n "$name" ] || continue
  add_keys
  L=$H/kernel-$name; rm -rf "$L"; mkdir -p "$L"
  if kmount "$L" "$kb" "$fnek"; then
    cp -a $H/plain/. /mnt/upper/ || { echo "copy into kernel-$name failed"; rc=1; }
    manifest /mnt/upper > $OUT/kernel-$name.upper.manifest
    sync; umount /mnt/upper
    echo "kernel wrote kernel-$name"
  else echo "mount kernel-$name failed"; dmesg | tail -5; rc=1; fi
  if [ -d $H/hc-$name ]; then
    add_keys
    if kmount $H/hc-$name "$kb" "$fnek"; then
      manifest /mnt/upper > $OUT/hc-$name.manifest 2> $OUT/hc-$name.err
      umount /mnt/upper
      echo "kernel read hc-$name"
    else echo "mount hc-$name failed"; dmesg | tail -5; rc=1; fi
  fi
done < $H/configs
dmesg | grep -i ecryptfs | tail -20 > $OUT/dmesg.txt

if [ -f $H/private-login-passphrase ]; then
  LOGINPASS=$(cat $H/private-login-passphrase)
  PRIVPASS=$(cat $H/private-mount-passphrase)
  P=$H/private; rm -rf "$P"; mkdir -p $P/home/alice
  echo "alice:x:1000:1000:alice:$P/home/alice:/bin/sh" >> /etc/passwd
  echo "alice:x:1000:" >> /etc/group
  echo 'alice:*:19000:0:99999:7:::' >> /etc/shadow
  chown 1000:1000 $P/home/alice; chmod 700 $P/home/alice
  cat > /tmp/alice.sh <<EOS
set -u
cd "\$HOME"
keyctl link @u @s 2>/dev/null
ecryptfs-setup-private -u alice -l "$LOGINPASS" -m "$PRIVPASS" --nopwcheck --noautomount --noautoumount > /tmp/setup.out 2>&1 || { cat /tmp/setup.out; exit 1; }
keyctl clear @u
printf '%s\0' "$LOGINPASS" | ecryptfs-insert-wrapped-passphrase-into-keyring ~/.ecryptfs/wrapped-passphrase - || exit 1
/sbin/mount.ecryptfs_private || exit 1
cp -R -P $H/plain/. ~/Private/ || exit 1
/sbin/umount.ecryptfs_private || exit 1
EOS
  chmod 755 /tmp/alice.sh
  if su -s /bin/sh alice -c /tmp/alice.sh; then echo "private setup ok"; else echo "private setup failed"; rc=1; fi
fi
echo "job rc=$rc"
exit $rc
