# A key store's life at the command line: create, list, wrong passphrase,
# rewrap, forgotten passphrase recovered with the recovery key, a typo in it.
# Run by ../scenarios.test.ts; $HC is bin/homecrypt, $T a fresh temp dir.
# Output is compared with t_key_lifecycle.out after masking key IDs and
# recovery keys.

echo "# create"
echo 'first passphrase' | $HC key create $T/ks --kdf-time 0.05 --passphrase-fd 0 > $T/create.out; echo "exit $?"
grep -E '^(Created|    [0-9A-Z-]{47}$)' $T/create.out
RK=$(grep -oE '^    [0-9A-Z-]{47}$' $T/create.out | tr -d ' ')
stat -c '%a' $T/ks

echo "# slots"
$HC key slots $T/ks | sed -E 's/t=[0-9]+ m=[0-9]+MiB/t=_ m=_MiB/'

echo "# wrong passphrase"
echo 'not it' | $HC key unwrap $T/ks --passphrase-fd 0; echo "exit $?"

echo "# rewrap"
printf 'first passphrase\nsecond passphrase\n' | $HC rewrap $T/ks --passphrase-fd 0; echo "exit $?"
printf 'first passphrase\nthird\n' | $HC rewrap $T/ks --passphrase-fd 0; echo "exit $?"

echo "# forgot it: the recovery key sets a new one"
printf '%s\nfourth passphrase\n' "$RK" | $HC rewrap $T/ks --recovery --passphrase-fd 0; echo "exit $?"

echo "# a typo in the recovery key (group 3)"
TYPO=$(echo "$RK" | awk -F- '{ $3 = ($3 ~ /^A/ ? "B" : "A") substr($3, 2); print }' OFS=-)
printf '%s\nfifth\n' "$TYPO" | $HC rewrap $T/ks --recovery --passphrase-fd 0; echo "exit $?"

echo "# damaged file"
printf 'x' | dd of=$T/ks bs=1 seek=22 conv=notrunc status=none  # "login" -> "loxin"
$HC key slots $T/ks; echo "exit $?"
