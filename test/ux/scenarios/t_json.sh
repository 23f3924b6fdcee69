# One machine interface: --json puts the result on stdout as JSON and an error
# as one JSON line on stderr carrying the exit code; --progress-json gives
# progress as JSON lines; --quiet leaves only results, keys and errors.
# needs: root user
# every stdout/stderr line checked here is JSON (jq-like checks with python3)
keys() { python3 -c 'import json,sys
for l in sys.stdin.read().strip().split("\n"):
  d=json.loads(l); print(" ".join(sorted(d.keys())) if isinstance(d,dict) else "array of %d" % len(d))'; }
doc() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(sorted(d.keys())) if isinstance(d,dict) else "array")'; }

echo "# an error: one JSON line on stderr, nothing on stdout, the documented exit code"
$HC status --user no-such-user --json 2>$T/err >$T/out; echo "exit $?"
cat $T/err; wc -c < $T/out
$HC setup --json --user 2>&1; echo "exit $?"
$HC block format /nonexistent/disk --json --passphrase-fd 0 </dev/null 2>&1; echo "exit $?"

echo "# setup --json: JSON lines, the recovery key first (written before the work), then the result"
$HC setup --user $U --private --kdf-time 0.05 --passphrase-fd 3 3<$T/pw --json >$T/out 2>$T/err; echo "exit $?"
keys < $T/out
wc -c < $T/err
echo "# status, key slots, pam status"
$HC status --user $U --json | doc
$HC status --all --json | python3 -c 'import json,sys; print(type(json.load(sys.stdin)).__name__)'
$HC key slots $HOME_U/.homecrypt/homecrypt.keys --json | doc
$HC pam status --json | doc

echo "# block format --wipe --json --progress-json: stdout one document, stderr only JSON progress lines"
truncate -s 64M $T/disk.img
echo 'a passphrase' | $HC block format $T/disk.img --wipe --kdf-time 0.05 --passphrase-fd 0 --json --progress-json >$T/out 2>$T/err; echo "exit $?"
doc < $T/out
python3 -c 'import json,sys
lines=[json.loads(l)["progress"] for l in open(sys.argv[1])]
print(sorted(lines[0].keys()))
print("labels", sorted({p["label"] for p in lines}), "last", lines[-1]["percent"], lines[-1]["bytes"] == lines[-1]["totalBytes"])' $T/err
echo "# --quiet: no progress and no notes"
echo 'a passphrase' | $HC block format $T/disk.img --force --wipe --kdf-time 0.05 --passphrase-fd 0 --quiet 2>$T/err | sed 's/UUID .*/UUID <uuid>/'; echo "exit $?"
wc -c < $T/err
echo "# and without either: the one progress style (label, bar or percent, bytes, rate)"
echo 'a passphrase' | $HC block format $T/disk.img --force --wipe --kdf-time 0.05 --passphrase-fd 0 2>&1 >/dev/null | tail -1 | sed -E 's/[0-9.]+ MiB\/s/R MiB\/s/'
