#!/bin/sh
# Compiles pam/pam_homecrypt.c into dist/pam/pam_homecrypt.so with the system
# compiler against libpam0g-dev (run by ./run build; the package installs the
# result into the multiarch PAM directory). Quiet when it is up to date.
set -eu
cd "$(dirname "$(readlink -f "$0")")/.."
src=pam/pam_homecrypt.c
out=dist/pam/pam_homecrypt.so
[ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ] && exit 0
mkdir -p dist/pam
${CC:-cc} -std=c11 -O2 -g -fPIC -shared -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
  -Wl,-z,relro,-z,now -Wl,--as-needed -o "$out.tmp" "$src" -lpam
mv "$out.tmp" "$out"
