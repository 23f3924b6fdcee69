# Ctrl-C inside the copy of ecryptfs migrate: the recovery key was shown before
# the copy began and opens the new key store, status says the migration is
# unfinished (so no login mounts a half-filled ~/Private), and running the same
# command again resumes and finishes (the file the Ctrl-C cut in half is
# copied again).
# needs: root ecryptfs-private files=400 tmux
. "$LIB"
MIGRATE="$HC ecryptfs migrate --user $U --passphrase-fd 3 --kdf-time 0.05 --no-password-check"
state() {
  $HC status --user $U | grep -E '^(mode|unfinished|recovery):'
  sed -n 's/.*"state": "\(.*\)".*/state: \1/p' $HOMECRYPT_RECORD_DIR_FOR_TESTS/$U.json
}

echo "# Ctrl-C while copying"
tty_start a "$MIGRATE 3<$T/pw"
tty_wait a 'copying \[' && tty_ctrl_c a
tty_exit a
tty_screen a | grep -E '^(homecrypt|Recovery key|  [0-9A-Z]{5}-)'
RK=$(tty_screen a | grep -oE '([0-9A-Z]{5}-){7}[0-9A-Z]{5}')
state
echo "# the key shown before the copy opens the new key store"
KS=$($HC status --user $U --json | sed -n 's/.*"keyStore": "\(.*\)".*/\1/p')
printf '%s\n' "$RK" | $HC key unwrap $KS --passphrase-fd 0 --json > $T/unwrap; echo "exit $?"
grep -c '"slot": "recovery"' $T/unwrap
$HC keyring forget $(sed -n 's/.*"keyId": "\(.*\)".*/\1/p' $T/unwrap) > /dev/null

echo "# again: it resumes and finishes, every entry copied (7 of the fixture, the bulk directory and its 400 files); no new key"
$MIGRATE 3<$T/pw > $T/out 2>&1; echo "exit $?"
grep -vE '^copying|^$' $T/out
state
