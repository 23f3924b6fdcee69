#!/usr/bin/env bash
# What homecrypt's PAM lines cost the login of a user WITHOUT homecrypt:
# pam_homecrypt.so and the pam_exec fallback against the plain stack, same
# account, same run, interleaved rounds. Needs root (a throwaway account).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
exec node bench/pam-module.mjs "$@"
