#!/usr/bin/env python3
# The attacker of the race tests (issue #13): run as an ordinary user, it
# watches directories with inotify and, the moment a matching entry appears
# (IN_CREATE, IN_MOVED_TO) or is opened (IN_OPEN), replaces it with a symlink
# to a root-owned canary: a file with a file canary (atomically, by renaming
# a ready symlink over it), a directory with a directory canary (renamed
# aside, symlink put in its place). Code that then acts on the *name* as root
# lands on the canary; the tests check the canaries never change.
#
#   swapper.py --watch DIR [--watch DIR ...] --match REGEX --file-canary F --dir-canary D
#              [--events create,open] [--recursive] [--after-unmount PATH] [--swap-watched]
# --swap-watched: swap the watched directory holding the matching entry instead
# of the entry (a key store read again after its folder became a symlink).
# A --watch directory that does not exist yet (or cannot be read yet) is
# polled for until it can be watched, as a real attacker would.
# Prints "ready" once its watches are set, "swap PATH" per swap on stderr, and
# "swaps N" on stdout when it gets SIGTERM or its stdin closes.
import argparse, ctypes, os, re, select, signal, struct, sys

IN_ACCESS, IN_OPEN, IN_MOVED_TO, IN_CREATE = 0x1, 0x20, 0x80, 0x100
IN_Q_OVERFLOW, IN_IGNORED, IN_ISDIR = 0x4000, 0x8000, 0x40000000
OWN = re.compile(r'^\.(swp|swapped)-')

p = argparse.ArgumentParser()
p.add_argument('--watch', action='append', required=True)
p.add_argument('--match', required=True)
p.add_argument('--file-canary', required=True)
p.add_argument('--dir-canary', required=True)
p.add_argument('--events', default='create,open')
p.add_argument('--recursive', action='store_true')
p.add_argument('--swap-watched', action='store_true')
p.add_argument('--after-unmount', help='swap only once this path was seen mounted and then not (what a command does after unmounting)')
a = p.parse_args()

match = re.compile(a.match)
mask = 0
for e in a.events.split(','):
    mask |= {'create': IN_CREATE | IN_MOVED_TO, 'open': IN_OPEN, 'access': IN_ACCESS}[e]
if a.recursive:
    mask |= IN_CREATE | IN_MOVED_TO

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
ifd = libc.inotify_init1(os.O_CLOEXEC)
if ifd < 0:
    sys.exit('inotify_init1: errno %d' % ctypes.get_errno())
wds = {}
# IN_OPEN events our own directory listing causes (path -> count): skipped once
# each, or the swapper would swap every directory of a tree as it sets its watches
self_opens = {}
pending = []
swaps = 0
seq = 0

def watch(path):
    wd = libc.inotify_add_watch(ifd, path.encode(), mask)
    if wd >= 0:
        wds[wd] = path

def watch_tree(path):
    if not os.path.isdir(path) or os.path.islink(path):
        return False
    watch(path)
    if a.recursive:
        if mask & IN_OPEN and os.path.dirname(path) in wds.values():
            self_opens[path] = self_opens.get(path, 0) + 1
        try:
            subdirs = [e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False) and not OWN.match(e.name)]
        except OSError:
            subdirs = []
        for d in subdirs:
            watch_tree(d)
    return True

def mounted(path):
    with open('/proc/self/mountinfo') as f:
        return any(l.split(' ')[4] == path for l in f)

seen_mounted = False

def armed():
    global seen_mounted
    if not a.after_unmount:
        return True
    if mounted(a.after_unmount):
        seen_mounted = True
        return False
    return seen_mounted

def swap(path, isdir):
    global swaps, seq
    seq += 1
    d, name = os.path.split(path)
    try:
        if os.path.islink(path) and os.readlink(path) in (a.file_canary, a.dir_canary):
            return  # our own link arriving (its rename is an event too)
        if isdir:
            # one atomic exchange (renameat2 RENAME_EXCHANGE): the path never goes missing
            # in between, as it would with a rename and then a symlink
            aside = os.path.join(d, '.swapped-%d-%d' % (os.getpid(), seq))
            os.symlink(a.dir_canary, aside)
            if libc.renameat2(AT_FDCWD, path.encode(), AT_FDCWD, aside.encode(), RENAME_EXCHANGE) != 0:
                e = ctypes.get_errno()
                os.unlink(aside)
                raise OSError(e, os.strerror(e), path)
        else:
            tmp = os.path.join(d, '.swp-%d-%d' % (os.getpid(), seq))
            os.symlink(a.file_canary, tmp)
            try:
                os.rename(tmp, path)
            except OSError:
                os.unlink(tmp)
                raise
        swaps += 1
        sys.stderr.write('swap %s\n' % path)
    except OSError:
        pass  # gone or replaced meanwhile: the race goes on

def finish(*_):
    # os.write, not sys.stdout: the signal may land inside a buffered flush (reentrant call)
    os.write(1, ('swaps %d\n' % swaps).encode())
    os._exit(0)

signal.signal(signal.SIGTERM, finish)
for w in a.watch:
    if not watch_tree(w) or w not in wds.values():
        pending.append(w)
sys.stdout.write('ready\n')
sys.stdout.flush()

while True:
    for w in list(pending):
        if watch_tree(w) and w in wds.values():
            pending.remove(w)
    r, _, _ = select.select([ifd, sys.stdin], [], [], 0.001 if pending else None)
    if sys.stdin in r and not os.read(sys.stdin.fileno(), 4096):
        finish()
    if ifd not in r:
        continue
    buf = os.read(ifd, 65536)
    off = 0
    while off < len(buf):
        wd, m, _cookie, ln = struct.unpack_from('iIII', buf, off)
        name = buf[off + 16:off + 16 + ln].split(b'\0', 1)[0].decode(errors='replace')
        off += 16 + ln
        if m & (IN_Q_OVERFLOW | IN_IGNORED) or not name or OWN.match(name) or wd not in wds:
            continue
        path = os.path.join(wds[wd], name)
        isdir = bool(m & IN_ISDIR)
        if m & IN_OPEN and self_opens.get(path):
            self_opens[path] -= 1
            continue
        if match.search(name) and armed():
            if a.swap_watched:
                swap(wds[wd], True)
            else:
                swap(path, isdir)
        elif isdir and a.recursive and m & (IN_CREATE | IN_MOVED_TO):
            watch_tree(path)
