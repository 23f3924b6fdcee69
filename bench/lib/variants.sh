# Sourced by the interleaved engine benchmarks (canonical.sh, home.sh): the
# filesystems under test ("variants"), each made, mounted and timed the same
# way, so every script compares them under the same conditions.
#   plain      the lower ext4 directory itself
#   gocryptfs  Debian gocryptfs, -init -scryptn 10, default mount options
#   securefs   Debian securefs, create --format 4 (PBKDF2 1000 rounds: only the
#              mount is faster; the data path is the same), default mount options
#   homecrypt  `homecrypt init` + `homecrypt mount` of this checkout's dist/
#   before     homecrypt built from git revision $BEFORE (only when BEFORE is set)
#   before2    homecrypt built from git revision $BEFORE2 (only when BEFORE2 is set)
#   cross      this checkout's dist/ mounting a volume made by $BEFORE's `init`
#              (only when CROSS and BEFORE are set): with a BEFORE of format 1,
#              this code on format 1, so a change is split between the code and
#              the volume format (docs/BENCHMARKS.md, "Session 13")
#   floor      no encryption at all: bench/bridge-serve.mjs's synchronous
#              passthrough served through the same kernel bridge (src/fuse/kernel)
#              with homecrypt mount's default cache timeout (only when FLOOR is
#              set): what any filesystem written on this bridge in Node pays, so
#              homecrypt / floor is the engine's own share of a row
#   norecords  this checkout's dist/ with format 2's write records patched out
#              (only when NORECORDS is set; a measuring build: a kill during a
#              write can tear a block): homecrypt / norecords is what crash
#              safety costs a row
#   noxattrs   this checkout's dist/ serving no extended attributes and no POSIX
#              ACLs, as securefs (only when NOXATTRS is set; a measuring build):
#              homecrypt / noxattrs is what xattrs and ACLs cost a row
#   syncfsync  this checkout's dist/ with the lower fsync made on the JS thread
#              (as the floor makes it) instead of a pool thread (only when
#              SYNCFSYNC is set; a measuring build: a slow flush holds up every
#              other request meanwhile): homecrypt / syncfsync is what handing
#              fsyncs to the pool costs a row
#   spinN      this checkout's dist/ with the bridge's spin after a reply set to
#              N µs instead of 50 (for each N in SPINS='N …'; a measuring build)
#   warm       this checkout's dist/, as homecrypt, whose every fresh mount first
#              serves an untimed warm-up (home.sh's WARM=1 adds it to VARIANTS and
#              runs the warm-up): homecrypt / warm is what meeting a new daemon
#              process costs a row
#   bare       norecords, noxattrs and syncfsync in one build, warmed up as "warm"
#              (home.sh's BARE=1 adds it to VARIANTS and warms it; a measuring build): what is
#              left of a row once a new process and the three guarantees are out is
#              the engine's own work (the format's lower calls, crypto, names)
# The caller sets VARIANTS (a subset, in the order of every round) and then calls
# bench_init; it must run from the checkout's top directory, as root.

PASS=bench-passphrase
W=$(mktemp -d /tmp/hc-bench-XXXXXX)
TCK=$(getconf CLK_TCK)
declare -A R C # R[variant,phase,round] = wall seconds (or IOPS), C[...] = daemon CPU seconds

bench_cleanup() {
  local m
  for m in "$W"/*/mnt; do
    [ -d "$m" ] || continue
    mountpoint -q "$m" && { fusermount -u "$m" 2>/dev/null || fusermount -u -z "$m" 2>/dev/null || true; }
  done
  rm -rf "$W"
}

# bench_init: snapshot the build (a rebuild during the run cannot change it),
# build BEFORE and BEFORE2 if set (add the "before" and "before2" variants), check the peers exist
bench_init() {
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  APP=$W/app
  mkdir -p "$APP"
  cp -r dist bin package.json "$APP/"
  mkdir -p "$APP/bench" && cp bench/bridge-serve.mjs "$APP/bench/"
  ln -s "$PWD/node_modules" "$APP/node_modules"
  HC=$APP/bin/homecrypt
  HEAD_REV="$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ', with changes')"
  "$HC" --help >/dev/null || { echo "bench: dist/ does not run (./run build first)" >&2; exit 1; }
  local rev dir v
  for v in before before2; do
    rev=${BEFORE:-}; [ $v = before2 ] && rev=${BEFORE2:-}
    [ -n "$rev" ] || continue
    dir=$W/$v
    mkdir -p "$dir"
    if [ $v = before ]; then BEFORE_REV=$(git rev-parse --short "$rev"); else BEFORE2_REV=$(git rev-parse --short "$rev"); fi
    git archive "$rev" | tar -x -C "$dir"
    ln -s "$PWD/node_modules" "$dir/node_modules"
    (cd "$dir" && npx tsc -p tsconfig.json) || { echo "bench: $rev does not build" >&2; exit 1; }
    VARIANTS+=("$v")
  done
  if [ -n "${CROSS:-}" ]; then
    [ -n "${BEFORE:-}" ] || { echo "bench: CROSS needs BEFORE (whose init makes the volume)" >&2; exit 1; }
    VARIANTS+=(cross)
  fi
  [ -n "${FLOOR:-}" ] && VARIANTS+=(floor)
  [ -n "${NORECORDS:-}" ] && { measuring_build norecords; VARIANTS+=(norecords); }
  [ -n "${NOXATTRS:-}" ] && { measuring_build noxattrs; VARIANTS+=(noxattrs); }
  [ -n "${SYNCFSYNC:-}" ] && { measuring_build syncfsync; VARIANTS+=(syncfsync); }
  [[ " ${VARIANTS[*]} " = *" bare "* ]] && measuring_build bare
  local n
  for n in ${SPINS:-}; do measuring_build "spin$n"; VARIANTS+=("spin$n"); done
  if [ -n "${BEFORE:-}" ]; then OLD=$W/before; fi
  if [ -n "${BEFORE2:-}" ]; then OLD2=$W/before2; fi
  for v in "${VARIANTS[@]}"; do
    case $v in gocryptfs|securefs) command -v "$v" >/dev/null || { echo "bench: $v is not installed (./run deps)" >&2; exit 1; } ;; esac
  done
}

# measuring_build NAME: a copy of the snapshot in $W/NAME with one feature
# patched out of the compiled engine (bare: three), to measure what that costs
measuring_build() {
  local v=$1 d=$W/$1/app f
  mkdir -p "$d" && cp -r "$APP/dist" "$APP/bin" "$APP/package.json" "$d/" && ln -s "$PWD/node_modules" "$d/node_modules"
  if [ "$v" = bare ]; then for f in norecords noxattrs syncfsync; do patch_out "$f" "$d"; done; else patch_out "$v" "$d"; fi
}

# patch_out FEATURE DIR: FEATURE patched out of DIR/dist; each patch is checked
# to have matched, so a changed source fails the run, not the measurement
patch_out() {
  local v=$1 d=$2
  case $v in
    norecords) # no write record is ever needed or written (content-cipher's every caller)
      sed -i -e 's/^\(    needsRecord(io, at, length) {\)$/\1 return false;/' \
        -e 's/^\(    record(io, r) {\)$/\1 return;/' "$d/dist/engine/write-journal.js"
      [ "$(grep -c -e '{ return false;$' -e '{ return;$' "$d/dist/engine/write-journal.js")" = 2 ] ;;
    noxattrs) # no FUSE_POSIX_ACL asked, every xattr request ENOSYS (the bridge's answer to a missing op)
      sed -i -E '/^ {12}(posixAcl: true|(set|get|list|remove)xattr: wrap\(this\.(set|get|list|remove)xattr\)),$/d' "$d/dist/engine/filesystem.js"
      ! grep -q -E 'posixAcl: true|xattr: wrap' "$d/dist/engine/filesystem.js" ;;
    syncfsync) # the lower fsync on the JS thread (as the floor does), not on a pool thread (lower-flush.ts)
      sed -i -e "s/^import { close, fdatasync, fsync, statfsSync } from 'node:fs';$/import { close, fdatasync, fsync, statfsSync, fdatasyncSync, fsyncSync } from 'node:fs';/" \
        -e 's/^\(    fsync(fd, datasync) {\)$/\1 try { (datasync ? fdatasyncSync : fsyncSync)(fd); return Promise.resolve(); } catch (e) { return Promise.reject(e); }/' \
        "$d/dist/engine/lower-flush.js"
      [ "$(grep -c -e 'fdatasyncSync, fsyncSync }' -e '(datasync ? fdatasyncSync : fsyncSync)(fd); return' "$d/dist/engine/lower-flush.js")" = 2 ] ;;
    spin[0-9]*) # the bridge's default spin (kernel-bridge.ts) replaced
      sed -i "s/(kopts\.spinUs ?? 50)/(kopts.spinUs ?? ${v#spin})/" "$d/dist/fuse/kernel/kernel-bridge.js"
      grep -q "(kopts\.spinUs ?? ${v#spin})" "$d/dist/fuse/kernel/kernel-bridge.js" ;;
  esac || { echo "bench: the $v patch no longer matches dist/ (bench/lib/variants.sh)" >&2; exit 1; }
}

# measuring VARIANT: true if the variant is a measuring build (measuring_build made it in $W/VARIANT/app)
measuring() { case $1 in norecords|noxattrs|syncfsync|spin[0-9]*|bare) return 0 ;; *) return 1 ;; esac; }
hc_of() {
  case $1 in before) echo "$OLD/bin/homecrypt" ;; before2) echo "$OLD2/bin/homecrypt" ;;
    *) if measuring "$1"; then echo "$W/$1/app/bin/homecrypt"; else echo "$HC"; fi ;; esac
}
# the build whose `init` makes a variant's volume (cross: BEFORE's; else the one that mounts it)
hc_init_of() { if [ "$1" = cross ]; then echo "$OLD/bin/homecrypt"; else hc_of "$1"; fi; }
# hc_build VARIANT: true if the variant is a homecrypt build (made, mounted and timed as homecrypt)
hc_build() { case $1 in homecrypt|before|before2|cross|warm) return 0 ;; *) measuring "$1" ;; esac; }

setup() { # variant → prints the directory to work in (made once per run)
  local v=$1
  case $v in
    plain) mkdir -p "$W/plain/dir"; echo "$W/plain/dir" ;;
    gocryptfs)
      mkdir -p "$W/gocryptfs/cipher" "$W/gocryptfs/mnt"
      [ -f "$W/gocryptfs/cipher/gocryptfs.conf" ] || gocryptfs -q -init -scryptn 10 -extpass "echo $PASS" "$W/gocryptfs/cipher" >/dev/null
      echo "$W/gocryptfs/mnt" ;;
    securefs)
      mkdir -p "$W/securefs/cipher" "$W/securefs/mnt"
      [ -f "$W/securefs/cipher/.securefs.json" ] ||
        echo "$PASS" | securefs create --format 4 --pbkdf pkcs5-pbkdf2-hmac-sha256 -r 1000 "$W/securefs/cipher" >/dev/null 2>&1
      echo "$W/securefs/mnt" ;;
    floor) mkdir -p "$W/floor/lower" "$W/floor/mnt"; echo "$W/floor/mnt" ;;
    *) hc_build "$v" || return 0
      mkdir -p "$W/$v/mnt"
      [ -f "$W/$v/lower/homecrypt.conf" ] || echo "$PASS" | "$(hc_init_of "$v")" init "$W/$v/lower" --passphrase-fd 0 --kdf-time 0.05 >/dev/null
      echo "$W/$v/mnt" ;;
  esac
}

# bridge_serve KIND LOWER MNT OUT: bench/bridge-serve.mjs serving KIND
# (passthrough | homecrypt) through the kernel bridge, in the background, with
# homecrypt mount's default cache timeout (60 s: DEFAULT_CACHE_TIMEOUT in
# src/engine/volume.ts); its pid goes to OUT.pid, its output to OUT.out and
# OUT.err. Returns once it is mounted (fails, saying why, if it does not come up).
bridge_serve() {
  local kind=$1 lower=$2 m=$3 out=$4 i
  HOMECRYPT_BRIDGE_TIMEOUT=60 node "$APP/bench/bridge-serve.mjs" kernel "$kind" "$lower" "$m" > "$out.out" 2> "$out.err" &
  echo $! > "$out.pid"
  for i in $(seq 200); do grep -q ready "$out.out" 2>/dev/null && return 0; sleep 0.05; done
  echo "bench: $kind did not mount at $m" >&2; cat "$out.err" >&2; return 1
}

mnt() { # (re)mount a variant, so every phase starts with cold FUSE caches
  local v=$1
  case $v in
    gocryptfs) fusermount -u "$W/gocryptfs/mnt" 2>/dev/null || true
      gocryptfs -q -extpass "echo $PASS" "$W/gocryptfs/cipher" "$W/gocryptfs/mnt" 2>/dev/null ;;
    securefs) fusermount -u "$W/securefs/mnt" 2>/dev/null || true
      echo "$PASS" | securefs mount -b --log "$W/securefs.log" "$W/securefs/cipher" "$W/securefs/mnt" >/dev/null 2>&1
      local i; for i in $(seq 50); do mountpoint -q "$W/securefs/mnt" && break; sleep 0.1; done ;;
    floor) fusermount -u "$W/floor/mnt" 2>/dev/null || true
      bridge_serve passthrough "$W/floor/lower" "$W/floor/mnt" "$W/floor" ;;
    *) hc_build "$v" || return 0
      "$(hc_of "$v")" umount "$W/$v/mnt" 2>/dev/null || fusermount -u -z "$W/$v/mnt" 2>/dev/null || true
      echo "$PASS" | "$(hc_of "$v")" mount "$W/$v/lower" "$W/$v/mnt" --passphrase-fd 0 --log-file "$W/$v.log" ;;
  esac
}

# drop_caches: no page, dentry or inode cache of any file, lower or upper (a
# machine-wide drop: other processes' caches go too)
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# t CMD...: wall seconds of CMD; a failing CMD is said on stderr and listed in $W/failed
t() { local s e; s=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "bench: failed: $*" >&2; echo "$*" >> "$W/failed"; }
  e=$(date +%s.%N); echo "$e - $s" | bc; }

# CPU seconds (user + system, all threads) the filesystem daemon has used: on a
# shared, loaded machine this says more about cost than wall time does
daemon_pid() {
  case $1 in
    gocryptfs) pgrep -n -f "gocryptfs .*$W/gocryptfs/cipher" || true ;;
    securefs) pgrep -n -f "securefs mount .*$W/securefs/cipher" || true ;;
    floor) cat "$W/floor.pid" ;;
    *) if hc_build "$1"; then grep -o '(pid [0-9]*)' "$W/$1.log" | tail -1 | tr -dc 0-9; else echo ""; fi ;;
  esac
}
cpu() { local pid=$1; [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || { echo 0; return; }
  awk -v t="$TCK" '{ sub(/.*\) /, ""); print ($12 + $13) / t }' "/proc/$pid/stat"; }

# tc VARIANT PHASE CMD...: wall time of CMD into R, daemon CPU time into C
# (uses $round). With STRACE=PHASE, the homecrypt daemon runs that phase under
# `strace -c -f` and the summary goes to $W/strace-PHASE-rROUND.txt.
tc() {
  local v=$1 p=$2; shift 2
  local pid c0 st=
  pid=$(daemon_pid "$v"); c0=$(cpu "$pid")
  if [ "${STRACE:-}" = "$p" ] && [ "$v" = homecrypt ] && [ -n "$pid" ]; then
    strace -c -f -p "$pid" -o "$W/strace-$p-r$round.txt" 2>/dev/null & st=$!
    sleep 1
  fi
  R[$v,$p,$round]=$(t "$@")
  C[$v,$p,$round]=$(echo "$(cpu "$pid") - $c0" | bc)
  if [ -n "$st" ]; then kill -INT "$st" 2>/dev/null || true; wait "$st" 2>/dev/null || true; fi
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# medians PHASE...: M[variant,phase] and MC[variant,phase] over the ROUNDS rounds
declare -A M MC
medians() {
  local v p r vals cvals
  for v in "${VARIANTS[@]}"; do
    for p in "$@"; do
      vals=(); cvals=()
      for r in $(seq 1 "$ROUNDS"); do vals+=("${R[$v,$p,$r]}"); cvals+=("${C[$v,$p,$r]}"); done
      M[$v,$p]=$(median "${vals[@]}")
      MC[$v,$p]=$(median "${cvals[@]}")
    done
  done
}

# a one-line description of what "before" and "homecrypt" are, for the results
# the revisions as bench_init built them (a branch name such as main may move during the run)
revisions() {
  echo "\"before\" is homecrypt at $BEFORE_REV,$([ -n "${BEFORE2:-}" ] && echo " \"before2\" at $BEFORE2_REV,")$([ -n "${CROSS:-}" ] && echo " \"cross\" this checkout on a volume made by $BEFORE_REV,") \"homecrypt\" this checkout ($HEAD_REV)."
}

# tree_tar SRC: $TAR, a reproducible tar of directory SRC (never through a
# symlink inside it), $TREE its top folder's name, $NFILES its non-directories
tree_tar() {
  TAR=$W/tree.tar
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$(dirname "$1")" -cf "$TAR" "$(basename "$1")"
  TREE=$(basename "$1")
  NFILES=$(tar -tf "$TAR" | grep -vc '/$')
}

# home_workload: home.sh's sqlite inserts ($SQL) and git as a user would run
# it, without this machine's configuration ($GIT)
home_workload() {
  SQL=$W/inserts.sql
  { echo "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
    for i in $(seq 1000); do echo "INSERT INTO t(v) VALUES('row $i of the benchmark, some text to store');"; done; } > "$SQL"
  export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid \
    GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
  GIT=(git -c init.defaultBranch=main -c gc.auto=0)
}

# traced OUT VARIANT CMD...: CMD (output discarded) with the variant's daemon
# under `strace -c -f`, whose summary goes to OUT
traced() {
  local out=$1 v=$2 st
  shift 2
  strace -c -f -p "$(daemon_pid "$v")" -o "$out" 2>/dev/null & st=$!
  sleep 1
  "$@" >/dev/null 2>&1 || echo "bench: failed under strace ($v): $*" >&2
  kill -INT "$st" 2>/dev/null || true; wait "$st" 2>/dev/null || true
}

# each_round FN: ROUNDS rounds, in each FN VARIANT for every variant in turn
# (the order rotates, `round` is the round's number), then a line on stderr;
# sets LOAD0/LOAD1, START/END and RLOAD (the 1-min load at each round's start)
declare -A RLOAD
each_round() {
  local fn=$1 v
  LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
  START=$(date -u +%H:%M)
  for round in $(seq 1 "$ROUNDS"); do
    RLOAD[$round]=$(cut -d' ' -f1 /proc/loadavg)
    for v in $(rotation "$round"); do "$fn" "$v"; done
    echo "round $round done ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  done
  LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
  END=$(date -u +%H:%M)
}

# row_rounds ROW PREP RUN: the rounds of a script that measures one row: in
# each round, each variant in turn gets PREP VARIANT DIR (untimed), then
# RUN DIR timed by tc; each_round's settings, and the medians
row_rounds() {
  ONE_ROW=$1 ONE_PREP=$2 ONE_RUN=$3
  each_round row_once
  medians "$ONE_ROW"
}
row_once() { # VARIANT: row_rounds's step
  local v=$1 d
  d=$(setup "$v")
  "$ONE_PREP" "$v" "$d"
  tc "$v" "$ONE_ROW" "$ONE_RUN" "$d"
  echo "  $v: ${R[$v,$ONE_ROW,$round]} s, daemon CPU ${C[$v,$ONE_ROW,$round]} s" >&2
}

is_hc() { [ "$1" = homecrypt ] || [ "$1" = before ]; }

# row_straced PREP RUN: with STRACE=1, one more pass per homecrypt variant
# with its daemon under `strace -c -f`; SC[variant] is the summary's file
declare -A SC
row_straced() {
  local prep=$1 run=$2 v d
  [ "${STRACE:-}" = 1 ] || return 0
  for v in "${VARIANTS[@]}"; do
    is_hc "$v" || continue
    d=$(setup "$v")
    "$prep" "$v" "$d"
    traced "$W/strace-$v.txt" "$v" "$run" "$d"
    SC[$v]=$W/strace-$v.txt
  done
}

# row_head SCRIPT TREE: the first lines of a one-row script's results: when,
# the load at the start, the end and each round, TREE (what was worked on),
# and with BEFORE the revisions
row_head() {
  echo "bench/$1, $(date -u +%Y-%m-%d) $START–$END UTC, $(nproc) CPUs, median of $ROUNDS interleaved round(s)."
  echo "Load average (1/5/15 min) at start $LOAD0, at end $LOAD1; 1-min load at each round's start: $(for r in $(seq 1 "$ROUNDS"); do printf '%s ' "${RLOAD[$r]}"; done)"
  echo "$2"
  if [ -n "${OLD:-}" ]; then revisions; fi
  echo
}

# row_unmount: the homecrypt variants' mounts, at the end of a one-row script
row_unmount() {
  local v
  for v in "${VARIANTS[@]}"; do if hc_build "$v"; then "$(hc_of "$v")" umount "$W/$v/mnt" 2>/dev/null || true; fi; done
}

# row_table ROW: the rounds of ROW and, with BEFORE, homecrypt's ratio to it
row_table() {
  local row=$1
  rounds_table "$row"
  [ -n "${OLD:-}" ] || return 0
  awk -v w0="${M[before,$row]}" -v w1="${M[homecrypt,$row]}" -v c0="${MC[before,$row]}" -v c1="${MC[homecrypt,$row]}" \
    'BEGIN { printf "\nhomecrypt / before: wall %.2f, daemon CPU %.2f\n", (w0 > 0 ? w1 / w0 : 0), (c0 > 0 ? c1 / c0 : 0) }'
}

# row_strace PER WHAT: row_straced's summaries side by side, each count divided by PER (WHAT says by what)
row_strace() {
  local per=$1 what=$2 v args=()
  [ "${STRACE:-}" = 1 ] || return 0
  echo
  echo "Daemon system calls during one row (\`strace -c -f\`; a pass apart, strace slows the daemon)$what:"
  echo
  for v in "${VARIANTS[@]}"; do is_hc "$v" && args+=("$v" "${SC[$v]}"); done
  strace_table "$per" "${args[@]}"
}

# failed_list: the commands that failed during the run, for the results
failed_list() {
  [ -f "$W/failed" ] || return 0
  echo; echo "**These commands failed** (their times are in the medians above):"; echo
  sed 's/^/    /' "$W/failed"
}

# rotation ROUND: the variants in ROUND's order, rotated by one each round, so
# no variant always runs right after the same one (which leaves its writeback
# and its freed space to the next)
rotation() {
  local n=${#VARIANTS[@]} i
  for i in $(seq 0 $((n - 1))); do echo "${VARIANTS[$(((i + $1 - 1) % n))]}"; done
}

# rounds_table PHASE: per variant, its wall and daemon CPU seconds in each round and their medians
rounds_table() {
  local p=$1 v r ws cs
  echo "| variant | wall s (each round) | wall s, median | daemon CPU s (each round) | daemon CPU s, median |"
  echo "|---|---|---|---|---|"
  for v in "${VARIANTS[@]}"; do
    ws=() cs=()
    for r in $(seq 1 "$ROUNDS"); do ws+=("$(printf '%.2f' "${R[$v,$p,$r]}")"); cs+=("$(printf '%.2f' "${C[$v,$p,$r]}")"); done
    printf '| %s | %s | %.2f | %s | %.2f |\n' "$v" "${ws[*]}" "${M[$v,$p]}" "${cs[*]}" "${MC[$v,$p]}"
  done
}

# strace_table PER LABEL FILE [LABEL FILE ...]: the calls of `strace -c`
# summaries side by side, a column per summary, and their totals; each count
# divided by PER (1: the counts themselves)
strace_table() {
  local per=$1 c i line
  shift
  local -a labels=() files=()
  while [ $# -gt 1 ]; do labels+=("$1"); files+=("$2"); shift 2; done
  echo "| call | $(printf '%s | ' "${labels[@]}")"
  echo "|---|$(printf -- '---|%.0s' "${labels[@]}")"
  for c in $(awk '$4 ~ /^[0-9]+$/ && $NF != "total" { print $NF }' "${files[@]}" | sort -u) total; do
    line="| $c |"
    for i in "${!files[@]}"; do
      line+=" $(awk -v c="$c" -v n="$per" '$NF == c && $4 ~ /^[0-9]+$/ { x = $4 } END { if (n == 1) print x + 0; else printf "%.1f", x / n }' "${files[$i]}") |"
    done
    echo "$line"
  done
}
