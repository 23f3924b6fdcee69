#!/usr/bin/env bash
# What homecrypt adds to a login: PAM authenticate + open_session for a user
# whose home is encrypted (default KDF) against the same stack without the
# homecrypt lines, same machine, same run. Needs root (throwaway accounts).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
exec node bench/login.mjs "$@"
