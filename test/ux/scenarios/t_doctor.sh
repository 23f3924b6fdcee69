# homecrypt doctor: each broken state is built, then doctor names it in plain
# words with what to run, and exits 1 for a problem (0 when only warnings).
# The PAM stacks are files in $T/pam.d (--pam-dir): the host's are not touched.
# needs: root user
REPO=$(dirname "$(dirname "$(readlink -f "$HC")")")
KS=$HOME_U/.homecrypt/homecrypt.keys
P=$T/pam.d
mkdir $P
LINES=$($HC pam lines | grep -v '^#')
line() { printf '%s\n' "$LINES" | grep "^$1"; }
good_stacks() {
  printf 'auth\t[success=1 default=ignore]\tpam_unix.so nullok\nauth\trequisite\tpam_deny.so\nauth\trequired\tpam_permit.so\n%s\n' "$(line auth)" > $P/common-auth
  printf 'session\trequired\tpam_unix.so\n%s\n' "$(line session)" > $P/common-session
  printf 'password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt\npassword\trequisite\tpam_deny.so\npassword\trequired\tpam_permit.so\n%s\n' "$(line password)" > $P/common-password
}
doctor() { $HC doctor --user $U --pam-dir $P "$@" > $T/doc; rc=$?; sed -e "s|$REPO|\$REPO|g" -e 's/uid [0-9]*/uid N/' $T/doc; echo "exit $rc"; }

$HC setup --user $U --private --kdf-time 0.05 --passphrase-fd 3 3<$T/pw --json > $T/setup.json 2>&1; echo "setup: exit $?"
RK=$(sed -n 's/.*"recoveryKey":"\([^"]*\)".*/\1/p' $T/setup.json)
good_stacks
echo "# a good set-up"
doctor

echo "# PAM: pam_unix's success=1 jumps over homecrypt's auth line"
{ sed -n 1p $P/common-auth; line auth; sed -n 2,3p $P/common-auth; } > $P/x && mv $P/x $P/common-auth
doctor
good_stacks
echo "# PAM: homecrypt's session line before pam_unix"
{ line session; echo 'session	required	pam_unix.so'; } > $P/common-session
doctor
good_stacks
echo "# PAM: the session line missing"
echo 'session	required	pam_unix.so' > $P/common-session
doctor
good_stacks
echo "# PAM: the module file is not there"
sed -i "s|$REPO/dist/pam/pam_homecrypt.so|/nonexistent/pam_homecrypt.so|" $P/common-password
doctor
good_stacks
echo "# PAM: the pam_exec fallback's lines as this homecrypt writes them: well"
for s in auth session password; do
  { grep -v homecrypt $P/common-$s; $HC pam lines --exec | grep "^$s"; } > $P/x; mv $P/x $P/common-$s
done
doctor
echo "# PAM: the same lines as an older homecrypt wrote them (no --deadline)"
sed -i 's/ --deadline=[0-9]*//' $P/common-auth $P/common-session $P/common-password
doctor
echo "# PAM: no homecrypt lines at all, while a user relies on them"
for s in auth session password; do grep -v homecrypt $P/common-$s > $P/x; mv $P/x $P/common-$s; done
doctor
good_stacks
echo "# PAM: pam_ecryptfs beside homecrypt is a warning (exit 0)"
echo 'auth	optional	pam_ecryptfs.so unwrap' >> $P/common-auth
doctor
good_stacks

echo "# a key left in the keyring after the sessions ended (a warning)"
printf '%s\n' "$RK" | $HC key unwrap $KS --user $U --passphrase-fd 0 > /dev/null
doctor
echo "# mounted outside any session (a warning), then its daemon killed (a problem)"
$HC session mount --user $U > /dev/null; echo "session mount: exit $?"
doctor
PID=$(pgrep -u $U -f 'bin/homecrypt mount')
kill -KILL $PID
for i in $(seq 50); do kill -0 $PID 2>/dev/null || break; sleep 0.2; done

doctor
$HC umount $HOME_U/Private; echo "umount: exit $?"
$HC keyring forget $(sed -n 's/.*"keyId":"\([^"]*\)".*/\1/p' $T/setup.json | head -1) --user $U

echo "# the login slot removed: logins do not unlock"
printf '%s\n' "$RK" | $HC key slots $KS remove login --yes --passphrase-fd 0 > /dev/null
doctor
echo "# the password changed behind homecrypt's back (the login hook marks the record)"
sed -i 's/"needsRecovery": false/"needsRecovery": true/' /etc/homecrypt/users/$U.json
doctor --json | python3 -c 'import json,sys; d=json.loads(sys.stdin.read().split("\nexit")[0]); print(d["ok"], [f["check"] for f in d["findings"]])'
$HC status --user $U > $T/st; echo "status: exit $?"; grep '^password:' $T/st
echo "# the fix doctor names: rewrap --recovery; status and doctor agree at once, not at the next login"
{ printf '%s\n' "$RK"; cat $T/pw; } | $HC rewrap $KS --recovery --passphrase-fd 0; echo "exit $?"
$HC status --user $U > $T/st; echo "status: exit $?"; grep -c 'OUT OF SYNC' $T/st
doctor
echo "# an interrupted migration"
sed -i 's/"state": "ready"/"state": "migrating"/' /etc/homecrypt/users/$U.json
doctor
$HC status --user $U > /dev/null; echo "status: exit $?"
echo "# the account deleted: its record is stale"
userdel $U
doctor
$HC setup --forget --user $U > /dev/null; echo "forget: exit $?"
