# block format on a device that holds data asks for a typed YES (or --force);
# an interrupted format --wipe is formatted again without --force; a header
# backup never overwrites a file.
# needs: root tmux
. "$LIB"
IMG=$T/disk.img
truncate -s 400M $IMG
mkfs.ext4 -q -L photos $IMG
echo 'old data' > $T/pass

echo "# from a script, without --force: refused, nothing changed"
echo 'a passphrase' | $HC block format $IMG --passphrase-fd 0 --kdf-time 0.05; echo "exit $?"
wipefs -n $IMG | awk 'NR > 1 { print $3, $5 }'

echo "# on a terminal: the signature is shown; anything but YES keeps it"
tty_start a "$HC block format $IMG --kdf-time 0.05"
tty_wait a 'Type YES' && tty_type a 'yes'
tty_exit a
tty_screen a | grep -E '^(WARNING|homecrypt)'
wipefs -n $IMG | awk 'NR > 1 { print $3, $5 }'

echo "# YES, then Ctrl-C while wiping"
tty_start b "$HC block format $IMG --wipe --kdf-time 0.05"
tty_wait b 'Type YES' && tty_type b 'YES'
tty_wait b 'New passphrase' && tty_type b 'wipe passphrase'
tty_wait b 'Repeat' && tty_type b 'wipe passphrase'
tty_throttle b
tty_wait b 'Wiping \[' && tty_ctrl_c b
tty_exit b
tty_screen b | grep -E '^(WARNING|homecrypt)'
wipefs -n $IMG | awk 'NR > 1 { print $3 }'

echo "# the same command again: no YES, no --force; it finishes"
printf 'wipe passphrase\n' | $HC block format $IMG --wipe --kdf-time 0.05 --passphrase-fd 0 2>&1 | grep -v '^Wiping'; echo "exit $?"
echo "# and now a finished LUKS volume is guarded like any data"
echo 'x' | $HC block format $IMG --passphrase-fd 0 --kdf-time 0.05; echo "exit $?"

echo "# header-backup refuses to overwrite"
echo keep > $T/backup
$HC block header-backup $IMG $T/backup; echo "exit $?"
cat $T/backup
$HC block header-backup $IMG $T/backup2 | sed 's/[0-9]* bytes/N bytes/'; echo "exit $?"
