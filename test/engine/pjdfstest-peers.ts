// pjdfstest on homecrypt and on gocryptfs side by side: each peer mounted
// with other users allowed over a lower directory on its own small
// loop-mounted ext4 (a runaway write ends in ENOSPC), `prove -j` run by root
// from a 0777 directory inside the mount, and prove's report read back as
// failed assertions per test file. Used by test/engine/pjdfstest.test.ts
// and, for the whole tree, by bench/pjdfstest.sh (docs/POSIX.md).
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PJDFSTEST_DIR } from '../helpers/requirements.js';
import { hc, PASS } from './volume-helper.js';

export type Peer = 'homecrypt' | 'gocryptfs';

export interface PeerMount {
  peer: Peer;
  /** The 0777 directory inside the mount the files run from. */
  work: string;
  log(): string;
  cleanup(): void;
}

/** Mounts `peer` over a fresh lower directory on a loop-mounted ext4 of `sizeMiB`. */
export function mountPeer(peer: Peer, sizeMiB = 1024): PeerMount {
  const dir = mkdtempSync(`/tmp/hc-pjd-${peer}-`);
  chmodSync(dir, 0o755);
  const img = join(dir, 'img');
  const fsDir = join(dir, 'fs');
  const mnt = join(dir, 'mnt');
  const logFile = join(dir, 'daemon.log');
  mkdirSync(fsDir);
  mkdirSync(mnt);
  writeFileSync(img, '');
  execFileSync('truncate', ['-s', `${sizeMiB}M`, img]);
  execFileSync('mkfs.ext4', ['-q', '-F', img]);
  execFileSync('mount', ['-o', 'loop', img, fsDir]); // the loop device goes with the unmount
  const lower = join(fsDir, 'lower');
  const cleanup = (): void => {
    try {
      execFileSync('fusermount', ['-u', '-z', mnt], { stdio: 'ignore' });
    } catch {
      /* not mounted */
    }
    try {
      execFileSync('umount', [fsDir], { stdio: 'ignore' });
    } catch {
      try {
        execFileSync('umount', ['-l', fsDir], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (peer === 'homecrypt') {
      const init = hc(['init', lower, '--passphrase-fd', '0', '--kdf-time', '0.05'], `${PASS}\n`);
      if (init.code !== 0) throw new Error(`init: ${init.stderr}`);
      const m = hc(['mount', lower, mnt, '--passphrase-fd', '0', '--allow-other', '--log-file', logFile], `${PASS}\n`);
      if (m.code !== 0) throw new Error(`mount: ${m.stderr}`);
    } else {
      mkdirSync(lower);
      const pw = join(dir, 'pw');
      writeFileSync(pw, `${PASS}\n`, { mode: 0o600 });
      execFileSync('gocryptfs', ['-q', '-init', '-passfile', pw, '-scryptn', '10', lower], { stdio: 'ignore' });
      execFileSync('gocryptfs', ['-q', '-passfile', pw, '-allow_other', lower, mnt], { stdio: 'ignore' });
    }
    const work = join(mnt, 'w');
    mkdirSync(work);
    chmodSync(work, 0o777);
    return {
      peer,
      work,
      cleanup,
      log() {
        try {
          return readFileSync(logFile, 'utf8');
        } catch {
          return '';
        }
      },
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** Test files of the tree, relative to its tests/ directory ('rename/02.t'), sorted. */
export function allFiles(): string[] {
  const out = execFileSync('find', ['.', '-name', '*.t'], { cwd: `${PJDFSTEST_DIR}/tests`, encoding: 'utf8' });
  return out
    .split('\n')
    .filter(Boolean)
    .map((f) => f.replace(/^\.\//, ''))
    .sort();
}

export interface ProveResult {
  /** Failed assertions by file ('rename/02'): only files with failures. */
  failed: Map<string, number>;
  /** Every file that prove reported as done, passed or not. */
  done: Set<string>;
  seconds: number;
  output: string;
}

/**
 * Runs `files` with `prove -j jobs` in `work`. A file prove never finished
 * (stopped at `timeoutMs`) counts as one failure; one that ran fewer
 * assertions than it planned counts the missing ones as failed.
 */
export function prove(work: string, files: string[], jobs: number, timeoutMs: number): Promise<ProveResult> {
  const t0 = Date.now();
  const paths = files.map((f) => `${PJDFSTEST_DIR}/tests/${f}`);
  return new Promise((res) => {
    // its own process group, so a timeout stops the test scripts too, not only prove
    const child = spawn('prove', ['-j', String(jobs), ...paths], { cwd: work, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += String(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      output += String(d);
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutMs);
    child.on('close', () => {
      clearTimeout(timer);
      res({ ...parseProve(output, files), seconds: (Date.now() - t0) / 1000, output });
    });
  });
}

const key = (path: string): string => path.replace(/^.*\/tests\//, '').replace(/\.t$/, '');

/** Failed assertions per file from prove's output (exported for its own test). */
export function parseProve(output: string, files: string[]): { failed: Map<string, number>; done: Set<string> } {
  const failed = new Map<string, number>();
  const done = new Set<string>();
  for (const m of output.matchAll(/^(\S+\.t) \.+ ?(.*)$/gm)) done.add(key(m[1]!));
  // the summary: "<file> (Wstat: 256 Tests: 6 Failed: 2)" then indented detail lines
  const summary = output.slice(output.indexOf('Test Summary Report'));
  const blocks = summary.split(/\n(?=\S+\.t\s+\(Wstat)/);
  for (const b of blocks) {
    const m = /^(\S+\.t)\s+\(Wstat: (\d+)(?: \(.*?\))? Tests: (\d+) Failed: (\d+)\)/.exec(b);
    if (!m) continue;
    let n = Number(m[4]);
    const plan = /planned (\d+) tests? but ran (\d+)/.exec(b);
    if (plan) n += Math.max(0, Number(plan[1]) - Number(plan[2]));
    // a bad exit status or a parse error with every assertion passed counts
    // one; "TODO passed" alone (an assertion pjdfstest expects to fail on
    // this OS passed: chown/00 on Linux) is no failure
    if (n === 0 && (Number(m[2]) !== 0 || /Parse errors|Non-zero exit status/.test(b))) n = 1;
    if (n > 0) failed.set(key(m[1]!), n);
  }
  for (const f of files) {
    const k = key(f);
    if (!done.has(k) && !failed.has(k)) failed.set(k, 1); // never finished
  }
  return { failed, done };
}

/** Sum of failed assertions. */
export function total(failed: Map<string, number>): number {
  let n = 0;
  for (const v of failed.values()) n += v;
  return n;
}

/**
 * The files docs/POSIX.md allows homecrypt to fail: the first column of the
 * table under its "Files homecrypt is allowed to fail" heading.
 */
export function documentedFailures(doc: string): Set<string> {
  const at = doc.indexOf('## Files homecrypt is allowed to fail');
  if (at < 0) return new Set();
  const section = doc.slice(at).split(/\n## /)[0]!;
  return new Set([...section.matchAll(/^\| ([a-z_]+\/\d+) \|/gm)].map((m) => m[1]!));
}
