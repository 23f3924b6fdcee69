# ecryptfs migrate stopped in the middle: the record is not "ready" (no login
# mounts a half-filled ~/Private), status says what to run, and running the
# same command again finishes. A recovery key that could not be shown is
# replaced and shown on the rerun.
# needs: root ecryptfs-private
MIGRATE="$HC ecryptfs migrate --user $U --passphrase-fd 3 --kdf-time 0.05 --no-password-check"

echo "# stopped after 2 entries (a crash, or Ctrl-C), and stdout was not writable"
$MIGRATE --fail-after 2 3<$T/pw >/dev/full; echo "exit $?"
$HC status --user $U | grep -E '^(mode|unfinished|recovery):'
sed -n 's/.*"state": "\(.*\)".*/state: \1/p' $HOMECRYPT_RECORD_DIR_FOR_TESTS/$U.json

echo "# the same command again: a new recovery key, and it finishes"
$MIGRATE 3<$T/pw 2>&1 | grep -vE '^\[|^$'; echo "exit $?"
$HC status --user $U | grep -E '^(mode|unfinished|recovery):'
sed -n 's/.*"state": "\(.*\)".*/state: \1/p' $HOMECRYPT_RECORD_DIR_FOR_TESTS/$U.json
