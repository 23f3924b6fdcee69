# What an administrator and a user see: setup --private, status, a login
# through PAM (pamtester) that unlocks, a logout that locks, undo. Run by
# ../scenarios.test.ts as root with $HC = bin/homecrypt, $U = a fresh user
# (password in $T/pw), $SVC = a PAM service with the shipped lines. Output is
# compared with t_private_login.out after masking the user, key IDs, the
# recovery key and sizes.

echo "# setup: a typo in the password is caught by PAM"
echo 'not the password' | $HC setup --user $U --private --passphrase-fd 0 --kdf-time 0.05; echo "exit $?"

echo "# setup"
$HC setup --user $U --private --passphrase-fd 0 --kdf-time 0.05 < $T/pw; echo "exit $?"

echo "# status"
$HC status --user $U; echo "exit $?"

echo "# again: refused"
$HC setup --user $U --private --passphrase-fd 0 --kdf-time 0.05 < $T/pw; echo "exit $?"

echo "# login"
pamtester $SVC $U authenticate open_session < $T/pw 2>&1 | sed 's/^Password: //'
$HC status --user $U --json | grep -E '"(mode|mounted|sessions)"'
setpriv --reuid $U --regid $U --init-groups sh -c "echo hello > $HOME_U/Private/hello.txt; ls $HOME_U/Private"
# the config, the directory IV file (format 2) and hello.txt
echo "lower entries: $(ls $HOME_U/.Private | grep -c .)"

echo "# logout"
pamtester $SVC $U close_session
$HC status --user $U --json | grep -E '"(mounted|sessions)"'
setpriv --reuid $U --regid $U --init-groups sh -c "ls $HOME_U/Private | grep -c ."

echo "# undo"
$HC setup --undo --user $U --passphrase-fd 0 < $T/pw; echo "exit $?"
$HC setup --undo --yes --user $U --passphrase-fd 0 < $T/pw 2>/dev/null; echo "exit $?"
cat $HOME_U/Private/hello.txt
$HC status --user $U; echo "exit $?"
