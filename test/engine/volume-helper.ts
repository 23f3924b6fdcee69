// Test helper: a fresh volume made and mounted through the real CLI
// (bin/homecrypt init + mount, passphrase through --passphrase-fd 0).
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export const BIN = new URL('../../bin/homecrypt', import.meta.url).pathname;
export const PASS = 'correct horse battery staple';

export function hc(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(BIN, args, { input: input ?? '', encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export interface TestVolume {
  dir: string;
  lower: string;
  mnt: string;
  logFile: string;
  mount(): void;
  umount(): void;
  log(): string;
  cleanup(): void;
}

/**
 * `allowOther`: mounted with --allow-other, the test dir open to every user
 * (tests then act as other users through `asUser`). `loopMiB`: the lower dir
 * sits on an ext4 of that size, loop-mounted at `dir/fs` (needs root), so a
 * runaway write ends in ENOSPC, not in a full disk. `mountArgs`: more options for `homecrypt mount`.
 */
export interface VolumeOptions {
  plaintextNames?: boolean;
  allowOther?: boolean;
  loopMiB?: number;
  mountArgs?: string[];
}

export function makeVolume(opts: VolumeOptions = {}): TestVolume {
  const dir = mkdtempSync('/tmp/hc-engine-test-');
  if (opts.allowOther) chmodSync(dir, 0o755);
  let lower = join(dir, 'lower');
  const fsDir = join(dir, 'fs');
  if (opts.loopMiB) {
    const img = join(dir, 'img');
    mkdirSync(fsDir);
    closeSync(openSync(img, 'w'));
    truncateSync(img, opts.loopMiB << 20);
    execFileSync('mkfs.ext4', ['-q', '-F', img]);
    execFileSync('mount', ['-o', 'loop', img, fsDir]); // -o loop: the loop device goes with the unmount
    lower = join(fsDir, 'lower');
  }
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  const logFile = join(dir, 'daemon.log');
  const init = hc(['init', lower, '--passphrase-fd', '0', '--kdf-time', '0.05', ...(opts.plaintextNames ? ['--plaintext-names'] : [])], `${PASS}\n`);
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
  const v: TestVolume = {
    dir,
    lower,
    mnt,
    logFile,
    mount() {
      const r = hc(
        ['mount', lower, mnt, '--passphrase-fd', '0', '--log-file', logFile, ...(opts.allowOther ? ['--allow-other'] : []), ...(opts.mountArgs ?? [])],
        `${PASS}\n`,
      );
      if (r.code !== 0) throw new Error(`mount failed: ${r.stderr}`);
    },
    umount() {
      const r = hc(['umount', mnt]);
      if (r.code !== 0) throw new Error(`umount failed: ${r.stderr}`);
    },
    log() {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
    cleanup() {
      try {
        execFileSync('fusermount', ['-u', '-z', mnt], { stdio: 'ignore' });
      } catch {
        /* not mounted */
      }
      if (opts.loopMiB) {
        try {
          execFileSync('umount', [fsDir], { stdio: 'ignore' });
        } catch {
          try {
            execFileSync('umount', ['-l', fsDir], { stdio: 'ignore' });
          } catch {
            /* gone */
          }
        }
      }
      // rm(1) removes trees deeper than PATH_MAX (the lower dir of a deep plaintext tree is)
      try {
        execFileSync('rm', ['-rf', dir], { stdio: 'ignore' });
      } catch {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return v;
}

/**
 * A volume for the tests of one describe block (call it there): made and
 * mounted before them, `prepare` run on it, unmounted and removed after them.
 * Its `v` and `m` (the mount point) are set by the time the tests run.
 */
export function mountedVolume(opts: VolumeOptions = {}, prepare?: (v: TestVolume) => void): { v: TestVolume; m: string } {
  const held = {} as { v: TestVolume; m: string };
  beforeAll(() => {
    held.v = makeVolume(opts);
    held.v.mount();
    held.m = held.v.mnt;
    prepare?.(held.v);
  });
  afterAll(() => {
    try {
      held.v?.umount();
    } finally {
      held.v?.cleanup();
    }
  });
  return held;
}

export function run(cmd: string, args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { cwd, timeout: 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Runs a shell command as `uid`:`gid` (no supplementary groups) with umask 0; returns its output and status. */
export function asUser(uid: number, gid: number, script: string, cwd?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('setpriv', ['--reuid', String(uid), '--regid', String(gid), '--clear-groups', 'sh', '-c', `umask 0; ${script}`], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export { until } from '../helpers/wait.js';
