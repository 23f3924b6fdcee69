#!/usr/bin/env bash
# The whole pjdfstest tree on homecrypt and on gocryptfs in one run
# (test/engine/pjdfstest.test.ts with PJDFSTEST_FULL=1: prove -j 8 on each,
# both mounted for other users over small loop-mounted ext4), then the
# per-file table replaces the one between the pjdfstest markers of
# docs/POSIX.md. 30-60 minutes on a loaded 2-core machine.
#
#   bench/pjdfstest.sh     (needs root, /dev/fuse, gocryptfs, a built dist/,
#                           pjdfstest built by hand as docs/POSIX.md says)
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
[ -d dist/cli ] || { echo "build first: npx tsc -p ."; exit 1; }
rm -f test-artifacts/pjdfstest.md
# when, on what code and at what load (a loaded machine stretches the run and the numbers beside it)
export PJD_STARTED="$(date -u '+%Y-%m-%d %H:%M') UTC" PJD_LOAD0="$(cut -d' ' -f1-3 /proc/loadavg)"
export PJD_CODE="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' + uncommitted changes')"
PJDFSTEST_FULL=1 npx vitest run test/engine/pjdfstest.test.ts -t 'homecrypt fails no more'
status=$?
export PJD_ENDED="$(date -u '+%H:%M') UTC" PJD_LOAD1="$(cut -d' ' -f1-3 /proc/loadavg)"
[ -s test-artifacts/pjdfstest.md ] || { echo "no results (pjdfstest absent or the run failed to start)"; exit 1; }
python3 - <<'PY'
import os, re
doc = open('docs/POSIX.md').read()
e = os.environ
table = (f"Run of {e['PJD_STARTED']} to {e['PJD_ENDED']} on the code at {e['PJD_CODE']}; load average "
         f"(1, 5, 15 min) {e['PJD_LOAD0']} at the start, {e['PJD_LOAD1']} at the end.\n\n"
         + open('test-artifacts/pjdfstest.md').read())
new = re.sub(r'(<!-- pjdfstest:begin -->\n).*?(<!-- pjdfstest:end -->)', lambda m: m.group(1) + table + m.group(2), doc, flags=re.S)
open('docs/POSIX.md', 'w').write(new)
PY
cat test-artifacts/pjdfstest.md
exit $status
