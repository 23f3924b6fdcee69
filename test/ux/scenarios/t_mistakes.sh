# Mistakes made by hand: each gives one line, its documented exit code
# (docs/CLI.md), is caught before any secret is asked for (no terminal and no
# --passphrase-fd here: a prompt would say "no terminal"), and changes nothing.
# needs: root
NOBODY="setpriv --reuid 65534 --regid 65534 --clear-groups"
try() { "$@" < /dev/null; echo "exit $?"; }

echo "# not root"
try $NOBODY $HC setup --user nobody --private
try $NOBODY $HC pam enable
try $NOBODY $HC ecryptfs migrate --user nobody
echo "# a user or a path that is not there"
try $HC setup --user no-such-user --home
try $HC ecryptfs adopt --user no-such-user
try $HC block open /nonexistent/disk.img vol
try $HC install --target $T/not-a-system
ls $T
echo "# permission denied is an OS error with its own code, not an internal error"
try $NOBODY $HC init /root/hc-should-not-exist
test -e /root/hc-should-not-exist || echo "nothing made"
echo "# not a key store"
try $HC key slots /etc/passwd
echo "# a key store that exists is not overwritten, and nothing is asked"
echo 'a passphrase' | $HC key create $T/ks --kdf-time 0.05 --passphrase-fd 0 >/dev/null
SUM=$(md5sum < $T/ks)
try $HC key create $T/ks
echo "# the wrong old passphrase: the new one is never read, the file is unchanged"
printf 'not it\nnew passphrase\n' | $HC rewrap $T/ks --passphrase-fd 0; echo "exit $?"
[ "$(md5sum < $T/ks)" = "$SUM" ] && echo "key store unchanged"
echo "# the passphrase policy: the same 8 characters for init, key create, setup, rewrap"
echo 'short' | $HC key create $T/ks2 --kdf-time 0.05 --passphrase-fd 0; echo "exit $?"
echo 'short' | $HC init $T/lower --kdf-time 0.05 --passphrase-fd 0; echo "exit $?"
printf 'a passphrase\nshort\n' | $HC rewrap $T/ks --passphrase-fd 0; echo "exit $?"
ls $T
echo "# usage errors: one line"
try $HC setup --user
try $HC block format
try $HC frobnicate
