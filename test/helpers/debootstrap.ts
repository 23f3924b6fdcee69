// A real Debian root for tests that install or configure a system: built once
// with `debootstrap --variant=minbase` from the Debian mirror this machine's apt
// already uses, cached under /var/cache/homecrypt-test/ keyed by its package list,
// and handed to each test as a throwaway copy (an overlayfs over the cached root),
// so every test starts from the same clean system and the cache is never touched.
//
// Used by the package suite (test/package/) and the OS-installer suite (issue 7).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const DEBOOTSTRAP_CACHE = process.env.HOMECRYPT_TEST_CACHE
  ? join(process.env.HOMECRYPT_TEST_CACHE, 'debootstrap')
  : '/var/cache/homecrypt-test/debootstrap';

/** Bump when the way a root is built changes, so old caches are not reused. */
const RECIPE_VERSION = 1;

export interface DebootstrapSpec {
  /** Extra packages (debootstrap --include); the cache is keyed by this list. */
  packages: string[];
  /** Debian suite; default: this machine's (bookworm). */
  suite?: string;
  /** Debian mirror; default: the one in this machine's apt sources. */
  mirror?: string;
}

/** Null when a debootstrap root can be built here, else why not. */
export function debootstrapAbsentReason(): string | null {
  if (process.getuid?.() !== 0) return 'not running as root (debootstrap and chroot need it)';
  if (!existsSync('/usr/sbin/debootstrap')) return 'debootstrap is not installed (./run installs it)';
  return null;
}

/** The suite this machine runs (VERSION_CODENAME of /etc/os-release). */
export function hostSuite(): string {
  const m = /^VERSION_CODENAME=(\S+)$/m.exec(readFileSync('/etc/os-release', 'utf8'));
  return m ? m[1] : 'bookworm';
}

/**
 * The Debian mirror configured in this machine's apt sources for `suite`
 * (deb822 .sources or one-line .list), so tests fetch from where apt does.
 */
export function aptMirror(suite = hostSuite()): string {
  const files = ['/etc/apt/sources.list'];
  if (existsSync('/etc/apt/sources.list.d')) {
    for (const f of readdirSync('/etc/apt/sources.list.d').sort()) files.push(join('/etc/apt/sources.list.d', f));
  }
  for (const file of files) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1].trim().split(/\s+/) ?? [];
        if (field('Types').includes('deb') && field('Suites').includes(suite)) {
          const uri = field('URIs')[0];
          if (uri) return uri;
        }
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s/.exec(line);
        if (m && m[2] === suite) return m[1];
      }
    }
  }
  return 'http://deb.debian.org/debian';
}

function specKey(spec: Required<DebootstrapSpec>): string {
  const packages = [...new Set(spec.packages)].sort();
  const canonical = JSON.stringify({ v: RECIPE_VERSION, suite: spec.suite, mirror: spec.mirror, variant: 'minbase', packages });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/**
 * Path of the cached root for `spec`, building it on first use (a few minutes
 * on a fresh machine). Concurrent callers wait on a lock; a build that dies
 * leaves only a temp dir that the next build removes. Treat the result as
 * read-only: use `ChrootSession` to get a writable copy.
 */
export function cachedDebootstrapRoot(specIn: DebootstrapSpec): string {
  const spec: Required<DebootstrapSpec> = {
    packages: specIn.packages,
    suite: specIn.suite ?? hostSuite(),
    mirror: specIn.mirror ?? aptMirror(specIn.suite ?? hostSuite()),
  };
  const key = specKey(spec);
  const dir = join(DEBOOTSTRAP_CACHE, key);
  const root = join(dir, 'root');
  if (existsSync(join(dir, 'complete'))) return root;

  mkdirSync(DEBOOTSTRAP_CACHE, { recursive: true });
  const packages = [...new Set(spec.packages)].sort();
  // The whole build runs under flock, so two suites never build the same root
  // twice or see a half-built one; `complete` is written last.
  const script = `
set -euo pipefail
dir=$1 suite=$2 mirror=$3 include=$4
[ -e "$dir/complete" ] && exit 0
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"
log="$dir.tmp/debootstrap.log"
if ! debootstrap --variant=minbase --components=main \${include:+--include="$include"} \\
      "$suite" "$dir.tmp/root" "$mirror" >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  [ -f "$dir.tmp/root/debootstrap/debootstrap.log" ] && tail -n 40 "$dir.tmp/root/debootstrap/debootstrap.log" >&2
  exit 1
fi
# Downloaded .debs are not part of the system and would only bloat the cache.
rm -f "$dir.tmp/root/var/cache/apt/archives/"*.deb
rm -rf "$dir"
mv "$dir.tmp" "$dir"
date -u +%FT%TZ > "$dir/complete"
`;
  writeFileSync(join(DEBOOTSTRAP_CACHE, `${key}.json`), `${JSON.stringify({ ...spec, packages }, null, 2)}\n`);
  const r = spawnSync('flock', [join(DEBOOTSTRAP_CACHE, `${key}.lock`), 'bash', '-c', script, 'build-root', dir, spec.suite, spec.mirror, packages.join(',')], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) {
    throw new Error(`debootstrap of ${spec.suite} from ${spec.mirror} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  }
  return root;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A writable, throwaway copy of a cached root (overlayfs: the cache is the
 * lower layer), with /proc, /sys and /dev mounted the way an installer's
 * chroot has them. `dispose()` unmounts everything it mounted, in reverse order.
 */
export class ChrootSession {
  readonly root: string;
  private readonly base: string;
  private readonly mounts: string[] = [];

  private constructor(base: string, cachedRoot: string) {
    this.base = base;
    this.root = join(base, 'root');
    const upper = join(base, 'upper');
    const work = join(base, 'work');
    for (const d of [this.root, upper, work]) mkdirSync(d);
    this.mount(['-t', 'overlay', 'overlay', '-o', `lowerdir=${cachedRoot},upperdir=${upper},workdir=${work}`, this.root]);
    this.mount(['-t', 'proc', 'proc', join(this.root, 'proc')]);
    this.mount(['-t', 'sysfs', 'sysfs', join(this.root, 'sys')]);
    this.mount(['--rbind', '/dev', join(this.root, 'dev')]);
    execFileSync('mount', ['--make-rslave', join(this.root, 'dev')]);
    // As in any installer chroot: packages must not start services here.
    writeFileSync(join(this.root, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    // What every booted Debian system has (systemd-tmpfiles, or initscripts,
    // makes it at boot) and a fresh debootstrap lacks: fusermount3 reads it
    // to unmount a user's FUSE mount.
    try {
      symlinkSync('../proc/self/mounts', join(this.root, 'etc/mtab'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }

  /** A fresh session over the cached root of `spec` (built on first use). */
  static open(spec: DebootstrapSpec, tmpParent = '/tmp'): ChrootSession {
    const cached = cachedDebootstrapRoot(spec);
    ChrootSession.removeStale(tmpParent);
    const base = mkdtempSync(join(tmpParent, 'homecrypt-chroot-'));
    writeFileSync(join(base, 'owner.pid'), `${process.pid}\n`);
    try {
      return new ChrootSession(base, cached);
    } catch (err) {
      ChrootSession.cleanupBase(base, []);
      throw err;
    }
  }

  /** Sessions left by a test process that died (its pid is gone) are cleaned up. */
  private static removeStale(tmpParent: string): void {
    for (const name of readdirSync(tmpParent)) {
      if (!name.startsWith('homecrypt-chroot-')) continue;
      const base = join(tmpParent, name);
      let pid: number;
      try {
        pid = Number(readFileSync(join(base, 'owner.pid'), 'utf8'));
      } catch {
        continue;
      }
      if (pid > 0 && existsSync(`/proc/${pid}`)) continue;
      ChrootSession.cleanupBase(base, []);
    }
  }

  private mount(args: string[]): void {
    execFileSync('mount', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.mounts.push(args[args.length - 1]);
  }

  /** Host path of a path inside the root. */
  path(inside: string): string {
    return join(this.root, inside);
  }

  /** Runs a shell command inside the root (chroot), with a clean environment. */
  sh(command: string, opts: { input?: string; timeoutMs?: number } = {}): RunResult {
    const env = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/root',
      LANG: 'C.UTF-8',
      DEBIAN_FRONTEND: 'noninteractive',
      TERM: 'dumb',
    };
    const r = spawnSync('chroot', [this.root, '/bin/sh', '-c', command], {
      env,
      input: opts.input,
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 << 20,
    });
    return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
  }

  /** Like `sh`, but throws with the output when the command fails. */
  must(command: string, opts: { input?: string; timeoutMs?: number } = {}): string {
    const r = this.sh(command, opts);
    if (r.code !== 0) throw new Error(`in chroot: \`${command}\` exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  dispose(): void {
    ChrootSession.cleanupBase(this.base, this.mounts);
  }

  private static cleanupBase(base: string, mounts: string[]): void {
    // Anything the test started inside (a FUSE daemon, say) may still hold
    // mounts below ours: find them all under the root and unmount deepest first.
    const root = join(base, 'root');
    const mountedBelow = () =>
      readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4])
        .filter((p) => p && (p === root || p.startsWith(`${root}/`)));
    for (let attempt = 0; attempt < 3; attempt++) {
      const all = [...new Set([...mountedBelow(), ...(attempt === 0 ? mounts : [])])].sort((a, b) => b.length - a.length);
      if (all.length === 0) break;
      for (const m of all) spawnSync('umount', [m], { stdio: 'ignore' });
      for (const m of mountedBelow().sort((a, b) => b.length - a.length)) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    }
    // Never rm -rf through a mount that is still there.
    if (mountedBelow().length === 0) rmSync(base, { recursive: true, force: true });
  }
}
