# ecryptfs migrate stopped in the middle: the record is not "ready" (no login
# mounts a half-filled ~/Private), status says what to run, and running the
# same command again finishes. A recovery key that could not be shown is
# replaced and shown on the rerun.
# needs: root ecryptfs-private
MIGRATE="$HC ecryptfs migrate --user $U --passphrase-fd 3 --kdf-time 0.05 --no-password-check"
state() {
  $HC status --user $U | grep -E '^(mode|unfinished|recovery):'
  sed -n 's/.*"state": "\(.*\)".*/state: \1/p' $HOMECRYPT_RECORD_DIR_FOR_TESTS/$U.json
}

echo "# 1. stdout is not writable when the recovery key is to be shown"
$MIGRATE 3<$T/pw >/dev/full; echo "exit $?"
state

echo "# 2. again: a new recovery key is shown; then it stops after 2 entries (a crash)"
$MIGRATE --fail-after 2 3<$T/pw 2>&1 | grep -vE '^copying|^$'
state

echo "# 3. again: it finishes; no new key (the last one was shown)"
$MIGRATE 3<$T/pw 2>&1 | grep -vE '^copying|^$'; echo "exit $?"
state
