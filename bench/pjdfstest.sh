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
PJDFSTEST_FULL=1 npx vitest run test/engine/pjdfstest.test.ts -t 'homecrypt fails no more'
status=$?
[ -s test-artifacts/pjdfstest.md ] || { echo "no results (pjdfstest absent or the run failed to start)"; exit 1; }
python3 - <<'PY'
import re
doc = open('docs/POSIX.md').read()
table = open('test-artifacts/pjdfstest.md').read()
new = re.sub(r'(<!-- pjdfstest:begin -->\n).*?(<!-- pjdfstest:end -->)', lambda m: m.group(1) + table + m.group(2), doc, flags=re.S)
open('docs/POSIX.md', 'w').write(new)
PY
cat test-artifacts/pjdfstest.md
exit $status
