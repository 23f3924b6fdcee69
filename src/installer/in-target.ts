// Runs commands inside the target root the way Debian's installer does
// (`in-target`): chroot into it with /proc, /sys and /dev (hence /dev/fuse and
// /dev/pts) mounted, and a clean environment. An installer that already mounted
// them (d-i does) keeps its mounts; whatever this module mounted it unmounts
// again, on every path out, so a failed install never leaves mounts behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join, posix } from 'node:path';
import { MissingFeatureError, RefusedError } from '../errors.js';

export interface RunOptions {
  /** Written to the child's stdin. */
  input?: string | Buffer;
  /** Secrets passed on fd 3 (one line each), never in argv or the environment. */
  fd3?: string | Buffer;
  /** Let the child's stdout go to ours (the recovery key shown to the operator). */
  inheritStdout?: boolean;
  timeoutMs?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const CHROOT_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
  DEBIAN_FRONTEND: 'noninteractive',
  DEBCONF_NONINTERACTIVE_SEEN: 'true',
  TERM: 'dumb',
};

function mountPoints(): Set<string> {
  // Field 5 of mountinfo; octal escapes (\040 for space) decoded.
  return new Set(
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)))),
  );
}

export class InTarget {
  readonly root: string;
  private readonly mounted: string[] = [];
  private readonly running = new Set<ChildProcess>();

  constructor(root: string) {
    try {
      this.root = realpathSync(root);
    } catch (err) {
      throw new RefusedError(`--target ${root}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message}`);
    }
    if (this.root === '/') throw new RefusedError('--target /: the target must be the root of the system being installed, not this one');
  }

  /**
   * Host path of `inside`, resolving symlinks as the target sees them: an
   * absolute link in the target (lib -> /usr/lib) points into the target, never
   * at the host's files.
   */
  path(inside: string): string {
    return this.resolve(inside);
  }

  /** Like path(), but the last component is not followed if it is a link (lstat semantics). */
  entryPath(inside: string): string {
    const norm = posix.normalize(`/${inside}`);
    if (norm === '/') return this.root;
    return join(this.resolve(posix.dirname(norm)), posix.basename(norm));
  }

  private resolve(inside: string): string {
    const parts = posix.normalize(`/${inside}`).split('/').filter(Boolean);
    let resolved: string[] = [];
    for (let hops = 0, i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (part === '..') {
        resolved.pop();
        continue;
      }
      const candidate = join(this.root, ...resolved, part);
      let isLink = false;
      try {
        isLink = lstatSync(candidate).isSymbolicLink();
      } catch {
        /* does not exist (yet) */
      }
      if (!isLink) {
        resolved.push(part);
        continue;
      }
      if (++hops > 40) throw new RefusedError(`${posix.join('/', ...parts)}: too many symbolic links in the target`);
      const target = readlinkSync(candidate);
      const rest = parts.slice(i + 1);
      const base = target.startsWith('/') ? [] : resolved;
      const next = posix
        .normalize(`/${[...base, target].join('/')}`)
        .split('/')
        .filter(Boolean);
      parts.splice(0, parts.length, ...next, ...rest);
      resolved = [];
      i = -1;
    }
    return join(this.root, ...resolved);
  }

  /** Mounts what chrooted tools need, unless the installer already did; returns what it mounted. */
  enter(): string[] {
    const have = mountPoints();
    const want: Array<[string, string[]]> = [
      ['proc', ['-t', 'proc', 'proc']],
      ['sys', ['-t', 'sysfs', 'sysfs']],
      ['dev', ['--bind', '/dev']],
      ['dev/pts', ['--bind', '/dev/pts']],
    ];
    for (const [inside, args] of want) {
      const at = join(this.root, inside);
      if (have.has(at)) continue;
      mkdirSync(at, { recursive: true });
      const r = spawnSync('mount', [...args, at], { encoding: 'utf8' });
      if (r.status !== 0) {
        this.leave();
        throw new MissingFeatureError(`cannot mount ${inside} into the target (${(r.stderr || String(r.error)).trim()})`);
      }
      this.mounted.push(at);
    }
    if (!existsSync(join(this.root, 'dev/fuse')) && existsSync('/dev/fuse')) {
      // The installer's own /dev may be a static one without fuse; bind it.
      const at = join(this.root, 'dev/fuse');
      spawnSync('touch', [at]);
      if (spawnSync('mount', ['--bind', '/dev/fuse', at]).status === 0) this.mounted.push(at);
    }
    return this.mounted.map((m) => m.slice(this.root.length));
  }

  /** Unmounts, deepest first, exactly what enter() mounted. */
  leave(): { unmounted: string[]; failed: string[] } {
    const failed: string[] = [];
    const unmounted: string[] = [];
    while (this.mounted.length) {
      const at = this.mounted.pop() as string;
      if (spawnSync('umount', [at]).status === 0 || spawnSync('umount', ['-l', at]).status === 0) unmounted.push(at.slice(this.root.length));
      else failed.push(at);
    }
    return { unmounted, failed };
  }

  /** Runs argv inside the target (chroot), with a clean environment. */
  run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve) => {
      const stdio: Array<'pipe' | 'inherit'> = ['pipe', opts.inheritStdout ? 'inherit' : 'pipe', 'pipe'];
      if (opts.fd3 !== undefined) stdio.push('pipe');
      const child = spawn('chroot', [this.root, ...argv], { env: CHROOT_ENV, stdio });
      this.running.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d) => {
        stdout += d;
      });
      child.stderr?.on('data', (d) => {
        stderr += d;
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15 * 60_000);
      child.on('error', (err) => {
        stderr += String(err);
      });
      child.on('close', (code, signal) => {
        this.running.delete(child);
        clearTimeout(timer);
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
      child.stdin?.on('error', () => {
        /* the child may not read it */
      });
      child.stdin?.end(opts.input ?? '');
      if (opts.fd3 !== undefined) {
        const fd3 = child.stdio[3] as NodeJS.WritableStream;
        fd3.on('error', () => {
          /* the child may exit before reading */
        });
        fd3.end(opts.fd3);
      }
    });
  }

  /** Passes a signal the installer received on to the commands running in the target. */
  interrupt(signal: NodeJS.Signals): void {
    for (const child of this.running) child.kill(signal);
  }

  /** True when `prog` is found on the target's PATH. */
  has(prog: string): boolean {
    return CHROOT_ENV.PATH.split(':').some((d) => {
      try {
        const p = this.path(join(d, prog));
        return existsSync(p) && (lstatSync(p).mode & 0o111) !== 0;
      } catch {
        return false;
      }
    });
  }
}
