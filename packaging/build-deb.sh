#!/usr/bin/env bash
# Builds the Debian binary package homecrypt_<version>_amd64.deb from this
# checkout with dpkg-deb (no debhelper, no source package): the compiled dist/
# (run `./run build` first; `./run package` does both), production npm
# dependencies, the PAM profile, systemd units, man pages and bash completion
# generated from the real CLI, and Debian's maintainer scripts.
#
#   bash packaging/build-deb.sh [--out DIR] [--revision N]
#
# Prints the path of the .deb on stdout. See docs/PACKAGING.md.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
repo=$PWD

out=$repo/build
revision=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$(readlink -f "$2"); shift 2 ;;
    --revision) revision=$2; shift 2 ;;
    *) echo "usage: $0 [--out DIR] [--revision N]" >&2; exit 2 ;;
  esac
done

log() { printf '[package] %s\n' "$*" >&2; }
die() { printf '[package] error: %s\n' "$*" >&2; exit 1; }

[ -f dist/cli/main.js ] || die "dist/ is missing: run ./run build first"
for tool in dpkg-deb dpkg-shlibdeps strip npm node gzip; do
  command -v "$tool" >/dev/null || die "$tool is missing (./run installs dpkg-dev and binutils)"
done

upstream=$(node -p 'require("./package.json").version')
[[ $upstream =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || die "package.json version '$upstream' is not a Debian upstream version"
version="$upstream-$revision"
arch=amd64
# Reproducible: every timestamp in the package is the last commit's.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

stage=$(mktemp -d /tmp/homecrypt-deb.XXXXXX)
trap '[ -n "${KEEP_STAGE:-}" ] || rm -rf "$stage"' EXIT
root=$stage/root
lib=$root/usr/lib/homecrypt
doc=$root/usr/share/doc/homecrypt
mkdir -p "$lib" "$root/usr/bin" "$doc" "$root/DEBIAN"

# --- the program: compiled JavaScript (no source maps: src/ is not shipped) --
log "staging dist/ and bin/"
cp -r dist "$lib/dist"
# the PAM module goes to the system's PAM directory (below), not with the JavaScript
rm -rf "$lib/dist/pam"
find "$lib/dist" -name '*.map' -delete
find "$lib/dist" -name '*.js' -exec sed -i '/^\/\/# sourceMappingURL=/d' {} +
cp package.json package-lock.json "$lib/"
mkdir -p "$lib/bin"
# Debian's nodejs installs /usr/bin/node; an absolute interpreter (not env)
# is what Debian policy asks of packaged scripts.
sed '1s|^#!.*|#!/usr/bin/node|' bin/homecrypt > "$lib/bin/homecrypt"
chmod 0755 "$lib/bin/homecrypt"
ln -s ../lib/homecrypt/bin/homecrypt "$root/usr/bin/homecrypt"

# --- production dependencies only --------------------------------------------
# From the lock file, without install scripts: fuse-native and koffi (through
# @koromix/koffi-linux-x64) ship N-API prebuilds for linux-x64 that are used as
# they are; argon2 is built just below.
log "npm ci --omit=dev (production dependencies)"
(cd "$lib" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >&2)
rm -f "$lib/package-lock.json" "$lib/node_modules/.package-lock.json"

# argon2's own linux-x64 prebuild crashes (SIGSEGV on load, on Node 18 and 20
# alike, measured on these machines), which is why its install script builds it
# from source in a checkout: do the same here, with node-gyp from npm and this
# Node's headers (N-API: the result runs on Debian's nodejs 18 too).
log "building argon2's addon from source (node-gyp)"
node_gyp=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
nodedir=$(npm config get nodedir 2>/dev/null || true)
case "$nodedir" in ''|undefined|null) nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")") ;; esac
[ -f "$nodedir/include/node/node_api.h" ] || die "no Node headers under $nodedir/include/node (needed to build argon2)"
rm -rf "$lib/node_modules/argon2/prebuilds"
(cd "$lib/node_modules/argon2" && ZERO_AR_DATE=1 node "$node_gyp" rebuild --release --nodedir="$nodedir" >"$stage/node-gyp.log" 2>&1) \
  || { tail -n 30 "$stage/node-gyp.log" >&2; die "building argon2 failed (needs g++, make, python3)"; }
# Only the addon itself is needed at run time.
a2=$lib/node_modules/argon2/build
mv "$a2/Release/argon2.node" "$stage/argon2.node"
rm -rf "$a2" && mkdir -p "$a2/Release" && mv "$stage/argon2.node" "$a2/Release/argon2.node"

log "pruning what does not run on Debian amd64"
nm=$lib/node_modules
# Prebuilt binaries for other systems (lintian: binary-from-other-architecture)
# and for musl; fuse-shared-library-linux's own libfuse and fusermount binaries
# are never used: fuse-native's prebuild links Debian's libfuse.so.2, and the
# fusermount of Debian's fuse3 is the setuid helper that must be used.
while IFS= read -r -d '' dir; do
  find "$dir" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
done < <(find "$nm" -type d -name prebuilds -print0)
find "$nm" \( -name '*.musl.node' -o -path '*/prebuilds/linux-x64/electron.napi.node' \
  -o -path '*/prebuilds/linux-x64/libfuse.so*' \) -delete
rm -rf "$nm"/@koromix/koffi-linux-x64/musl_x64
rm -rf "$nm"/fuse-shared-library-linux/libfuse/lib "$nm"/fuse-shared-library-linux/libfuse/bin \
       "$nm"/fuse-shared-library-linux/example "$nm"/fuse-shared-library-linux/libfuse/include
rm -rf "$nm"/fuse-shared-library-darwin "$nm"/fuse-shared-library-linux-arm
# Sources, build files, docs and tests of dependencies are not needed to run.
rm -rf "$nm"/koffi/lib "$nm"/koffi/vendor "$nm"/koffi/doc "$nm"/koffi/cnoke.cjs
rm -rf "$nm"/argon2/argon2 "$nm"/fuse-native/c "$nm"/node-addon-api
find "$nm" \( -name '*.md' -o -name '*.markdown' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
  -o -name '*.map' -o -name '.npmignore' -o -name '.eslintrc*' -o -name '.travis.yml' -o -name '.editorconfig' \
  -o -name '*.gyp' -o -name '*.gypi' -o -name 'CMakeLists.txt' -o -name '*.cc' -o -name '*.c' -o -name '*.h' -o -name '*.hh' \) \
  -type f ! -ipath '*licen[cs]e*' -delete
find "$nm" -depth -type d \( -name test -o -name tests -o -name example -o -name examples -o -name .github -o -name docs \) \
  -exec rm -rf {} +
find "$nm" -depth -type d -empty -delete
# Shared objects: stripped and not executable (Debian policy 8.1, 10.9);
# a file is executable exactly when it is a script (starts with #!).
find "$nm" -name '*.node' -type f -exec strip --strip-unneeded --remove-section=.comment {} +
find "$nm" -type f -exec chmod 0644 {} +
find "$nm" -type f ! -name '*.node' -print0 | while IFS= read -r -d '' f; do
  if [ "$(head -c 2 "$f")" = '#!' ]; then chmod 0755 "$f"; fi
done

log "checking that every native addon loads from the staged tree"
(cd "$lib" && node --input-type=module -e '
  const argon2 = await import("argon2");
  await argon2.hash("check", { timeCost: 1, memoryCost: 1024, parallelism: 1 });
  await import("fuse-native");
  const koffi = (await import("koffi")).default;
  koffi.load("libc.so.6");
' >&2) || die "a native addon does not load from the staged node_modules"

# --- PAM: the module, the hook and the pam-auth-update profile from pam/ -----
# pam_homecrypt.so (built by ./run build into dist/pam/) goes to the multiarch
# security directory, where PAM finds it by its bare name. pam/ (the login
# integration's folder) holds the hook both the module and pam_exec.so run, and
# the stack lines as templates with @HOOK@ and @MODULE@; the folder (without
# the module's C source and build script) goes to /usr/lib/homecrypt/pam/,
# where `homecrypt pam enable|lines` read the templates. The profile is
# pam/homecrypt.pam-auth-update (the module's) rendered for the installed hook
# and installed as /usr/share/pam-configs/homecrypt, the name the maintainer
# scripts pass to pam-auth-update. The package enables it at install (Default:
# yes, as Debian's PAM module packages do: the module returns at once for users
# without homecrypt), and the template shipped beside it says the same, so
# `homecrypt pam enable` on an installed system rewrites the very same bytes.
hook_path=/usr/lib/homecrypt/pam/homecrypt-pam-hook
module_dir=/lib/x86_64-linux-gnu/security
[ -f dist/pam/pam_homecrypt.so ] || die "dist/pam/pam_homecrypt.so is missing: run ./run build first"
install -D -m 0644 dist/pam/pam_homecrypt.so "$root$module_dir/pam_homecrypt.so"
strip --strip-unneeded --remove-section=.comment "$root$module_dir/pam_homecrypt.so"
install -d "$lib/pam"
for f in pam/*; do
  case "$f" in *.c|*/build-module.sh) continue ;; esac
  [ -f "$f" ] || continue
  if [ -x "$f" ]; then install -m 0755 "$f" "$lib/pam/"; else install -m 0644 "$f" "$lib/pam/"; fi
done
# Every login runs the hook as root: it must start the packaged interpreter
# (the nodejs this package depends on), not whatever `node` PATH finds first.
sed -i 's|^exec node |exec /usr/bin/node |' "$lib/pam/homecrypt-pam-hook"
profile=pam/homecrypt.pam-auth-update
log "PAM profile: $profile (module pam_homecrypt.so, hook $hook_path)"
[ -x "$root$hook_path" ] || die "the PAM profile needs the hook $hook_path, but pam/ has no executable $(basename "$hook_path")"
sed -i 's/^Default:.*/Default: yes/' "$lib/pam/$(basename "$profile")"
install -d "$root/usr/share/pam-configs"
sed -e "s|@HOOK@|$hook_path|g" -e "s|@MODULE@|pam_homecrypt.so|g" "$lib/pam/$(basename "$profile")" > "$root/usr/share/pam-configs/homecrypt"
if grep -q '@[A-Z_]*@' "$root/usr/share/pam-configs/homecrypt"; then
  die "the PAM profile still has a placeholder after rendering: $(grep -o '@[A-Z_]*@' "$root/usr/share/pam-configs/homecrypt" | head -n1)"
fi

# --- systemd units ------------------------------------------------------------
units=$(find systemd -maxdepth 1 -type f \( -name '*.service' -o -name '*.socket' -o -name '*.timer' \
  -o -name '*.target' -o -name '*.path' -o -name '*.mount' \) 2>/dev/null | sort)
enable_units=''
for unit in $units; do
  install -D -m 0644 "$unit" "$root/lib/systemd/system/$(basename "$unit")"
  # Units the maintainer scripts enable: those with an [Install] section that
  # are not templates (an instance such as homecrypt-mount@alice is the admin's).
  case "$(basename "$unit")" in *@.*) continue ;; esac
  grep -q '^\[Install\]' "$unit" && enable_units="${enable_units:+$enable_units }$(basename "$unit")"
done

# --- man pages and bash completion, generated from the staged program ---------
log "man pages and bash completion from the staged CLI"
man_date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
node man/build-man.mjs --program "$lib/dist/cli/main.js" --out "$root/usr/share/man" \
  --version "$upstream" --date "$man_date" >&2
find "$root/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +
install -d "$root/usr/share/bash-completion/completions"
node completion/build-completion.mjs --program "$lib/dist/cli/main.js" \
  > "$root/usr/share/bash-completion/completions/homecrypt"

# --- docs ---------------------------------------------------------------------
node packaging/copyright.mjs --node-modules "$nm" > "$doc/copyright"
# The changelog's newest entry must be this version; a build of a version that
# has no entry yet gets a generated one (so a version bump never breaks a build).
top=$(sed -n '1s/^homecrypt (\([^)]*\)).*/\1/p' packaging/changelog)
{
  if [ "$top" != "$version" ]; then
    printf 'homecrypt (%s) unstable; urgency=medium\n\n  * Built from the checkout at %s.\n\n -- %s  %s\n\n' \
      "$version" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
      "$(sed -n 's/^Maintainer: //p' packaging/control.in)" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
  fi
  cat packaging/changelog
} | gzip -9n > "$doc/changelog.Debian.gz"
# The user-facing docs (the systemd units point at LOGIN.md); the ones about
# developing homecrypt stay in the source.
for d in docs/*.md; do
  case "$(basename "$d")" in ARCHITECTURE.md|PACKAGING.md) continue ;; esac
  [ -f "$d" ] && install -m 0644 "$d" "$doc/"
done

# --- DEBIAN/ --------------------------------------------------------------------
for s in postinst prerm postrm; do
  sed "s/@SYSTEMD_UNITS@/$enable_units/" "packaging/$s" > "$root/DEBIAN/$s"
  chmod 0755 "$root/DEBIAN/$s"
done
# Shared-library dependencies of the native addons, as dpkg-shlibdeps computes them.
mkdir -p "$stage/src/debian"
printf 'Source: homecrypt\n\nPackage: homecrypt\nArchitecture: %s\n' "$arch" > "$stage/src/debian/control"
mapfile -t addons < <(find "$nm" -name '*.node' -type f | sort)
shlibs=$(cd "$stage/src" && dpkg-shlibdeps -O "${addons[@]}" "$root$module_dir/pam_homecrypt.so" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no dependencies for ${addons[*]}"
installed_size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$installed_size/" -e "s/@SHLIBS@/$shlibs/" \
  packaging/control.in > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

# Debian's modes: directories 0755, files 0644 unless executable.
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f ! -perm -u+x -exec chmod 0644 {} +
find "$root" -type f -perm -u+x -exec chmod 0755 {} +
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
deb=$out/homecrypt_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
log "built $deb"
echo "$deb"
