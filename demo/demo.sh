#!/usr/bin/env bash
# ./run demo: the whole login flow on a throwaway user, then everything is
# removed again. Needs root (it creates an account and a PAM service).
#   1. a user with a few files in their home
#   2. homecrypt setup --home: the home is migrated into an encrypted lower dir
#   3. a login through PAM (pamtester, the shipped PAM lines) unlocks and mounts it
#   4. the files are plaintext for the user, ciphertext below
#   5. logout unmounts it and drops the key
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
HC=(node "$PWD/bin/homecrypt")

[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates a throwaway user)" >&2; exit 1; }

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

user="hcdemo$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
password="demo-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
service="homecrypt-demo-$user"

cleanup() {
  set +e
  pamtester "$service" "$user" close_session >/dev/null 2>&1
  "${HC[@]}" session unmount --user "$user" >/dev/null 2>&1
  pkill -KILL -U "$user" 2>/dev/null
  umount -l "/home/$user" 2>/dev/null
  userdel --remove "$user" 2>/dev/null
  rm -rf "/home/$user" "/home/.homecrypt/$user" "/etc/homecrypt/users/$user.json" "/run/homecrypt/sessions/$user" "/run/homecrypt/log/$user.log"
  rm -f "/etc/pam.d/$service" "/etc/pam.d/$service-lines"
}
trap cleanup EXIT

as_user() { setpriv --reuid "$user" --regid "$user" --init-groups -- env -i HOME="/home/$user" PATH=/usr/bin:/bin sh -c "$1"; }
login()  { printf '%s\n' "$password" | pamtester "$service" "$user" authenticate open_session; }
logout() { pamtester "$service" "$user" close_session; }

bold "1. a throwaway user, $user, with some files"
useradd --create-home --shell /bin/bash "$user"
printf '%s:%s\n' "$user" "$password" | chpasswd          # the password goes through stdin only
as_user 'echo "Dear diary, today I encrypted my home." > ~/diary.txt; mkdir -p ~/photos; head -c 200000 /dev/urandom > ~/photos/cat.jpg'
run ls -la "/home/$user"

bold "2. a PAM service with the shipped homecrypt lines (what 'homecrypt pam enable' adds to common-*)"
"${HC[@]}" pam lines > "/etc/pam.d/$service-lines"
cat > "/etc/pam.d/$service" <<PAM
auth     [success=1 default=ignore] pam_unix.so
auth     requisite pam_deny.so
auth     required  pam_permit.so
account  required  pam_unix.so
password [success=1 default=ignore] pam_unix.so yescrypt
password requisite pam_deny.so
password required  pam_permit.so
session  required  pam_unix.so
@include $service-lines
PAM
grep -v '^#' "/etc/pam.d/$service-lines"
echo "(the demo logs in through this service only: the system-wide stacks are left alone, so status says the PAM hook is disabled)"

bold "3. homecrypt setup --user $user --home (password checked through PAM, home migrated in)"
printf '%s\n' "$password" | "${HC[@]}" setup --user "$user" --home --passphrase-fd 0 --kdf-time 0.3
run "${HC[@]}" status --user "$user"

bold "4. below the home: only ciphertext"
run ls -la "/home/.homecrypt/$user/lower" | head -12
f=$(find "/home/.homecrypt/$user/lower" -type f ! -name 'homecrypt.*' | head -1)
echo "first bytes of $f:"
head -c 96 "$f" | od -An -tx1 | head -4
grep -rqs "Dear diary" "/home/.homecrypt/$user" && { echo "demo: plaintext found below!" >&2; exit 1; }
echo "(no 'Dear diary' anywhere under /home/.homecrypt/$user)"
echo "and the home itself, while locked:"; run ls -la "/home/$user"

bold "5. $user logs in (pamtester: authenticate + open_session)"
login
run "${HC[@]}" status --user "$user"
echo "\$ (as $user) cat ~/diary.txt"; as_user 'cat ~/diary.txt'
echo "\$ (as $user) ls -l ~/photos"; as_user 'ls -l ~/photos'
echo "mounts: $(grep " /home/$user " /proc/self/mountinfo | sed 's/.* - //')"
echo "\$ (as $user) keyctl show @u"; as_user 'keyctl show @u'

bold "6. $user logs out (close_session): unmounted, key dropped"
logout
run "${HC[@]}" status --user "$user"
echo "\$ (as $user) ls -la ~"; as_user 'ls -la ~'
echo "\$ (as $user) keyctl show @u"; as_user 'keyctl show @u'

bold "done: the demo user and everything it made is removed now"
