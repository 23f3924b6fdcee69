# The login slot of a set-up user is not removed without confirmation; the
# record of a deleted account has a way out (setup --forget) and status names it.
# needs: root user
KS=$HOME_U/.homecrypt/homecrypt.keys
$HC setup --user $U --private --kdf-time 0.05 --passphrase-fd 3 3<$T/pw > /dev/null 2>&1; echo "setup: exit $?"

echo "# status --all lists every set-up user"
$HC status --all | grep -E "^user: +$U\$"
echo "# removing the login slot a user logs in with asks first"
$HC key slots $KS remove login --passphrase-fd 3 3<$T/pw; echo "exit $?"
$HC key slots $KS | tail -n +2 | awk '{ print $1 }'

echo "# a live account's record cannot be forgotten"
($HC setup --forget --user $U; echo "exit $?") 2>&1 | sed -E "s/uid [0-9]+/uid N/"
echo "# the account is deleted; its record stays, status says so, and it can be forgotten"
userdel $U
$HC status --user $U | grep -E '^(user|account):'
($HC setup --forget --user $U; echo "exit $?") 2>&1 | sed -E "s/uid [0-9]+/uid N/"
test -e /etc/homecrypt/users/$U.json || echo "record gone"
test -e $KS && echo "key store kept"
$HC status --user $U; echo "exit $?"
