# setup --home interrupted at several points, then run again: the recovery key
# always reaches the administrator (a new one when the first was never shown),
# status says what is unfinished, and the rerun finishes.
# needs: root user files=300 tmux
. "$LIB"
SETUP="$HC setup --user $U --home --kdf-time 0.05"
KS=/home/.homecrypt/$U/homecrypt.keys
state() { $HC status --user $U | grep -E '^(mode|unfinished|recovery):'; }

echo "# 1. Ctrl-C at the password prompt: nothing changes"
tty_start a "$SETUP"
tty_wait a 'Login password' && tty_ctrl_c a
tty_exit a
tty_screen a | grep 'homecrypt:'
$HC status --user $U

echo "# 2. the recovery key cannot be shown (stdout is a full disk): the home is not touched"
$SETUP --passphrase-fd 3 3<$T/pw >/dev/full; echo "exit $?"
state
echo "home entries: $(ls $HOME_U | wc -l)"

echo "# 3. again: a new recovery key is shown; Ctrl-C while migrating"
tty_start b "$SETUP --passphrase-fd 3 3<$T/pw"
tty_wait b 'migrating \[' && tty_ctrl_c b
tty_exit b
tty_screen b | grep -E '^(homecrypt|Recovery key|    [0-9A-Z]{5}-)'
RK=$(tty_screen b | grep -oE '([0-9A-Z]{5}-){7}[0-9A-Z]{5}')
state

echo "# 4. again: it resumes and finishes; no key this time (the last one was shown)"
$SETUP --passphrase-fd 3 3<$T/pw 2>&1 | grep -v '^migrating' | sed -E 's/[0-9]+ files migrated/N files migrated/'
state
$HC key slots $KS | tail -n +2 | awk '{ print $1, $2 }'
echo "# the key shown in step 3 opens the key store"
printf '%s\n' "$RK" | $HC key unwrap $KS --passphrase-fd 0 --json | grep -c '"slot": "recovery"'
$HC keyring forget $($HC status --user $U --json | sed -n 's/.*"keyId": "\(.*\)".*/\1/p') >/dev/null 2>&1

echo "# undo, Ctrl-C while restoring, undo again"
# (the mount daemon of the setup may take a moment to exit on this loaded machine)
for i in $(seq 60); do pgrep -u $U >/dev/null || break; sleep 0.5; done
tty_start c "$HC setup --undo --yes --user $U --passphrase-fd 3 3<$T/pw"
tty_wait c 'restoring' && tty_ctrl_c c
tty_exit c
tty_screen c | grep -E '^homecrypt'
state
$HC setup --undo --yes --user $U --passphrase-fd 3 3<$T/pw 2>&1 | grep -v '^restoring'; echo "exit $?"
echo "home entries: $(ls $HOME_U | wc -l)"
$HC status --user $U
