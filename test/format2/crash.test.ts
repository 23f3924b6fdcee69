// The crash test of format 2 (issue 17): a writer (another user, through an
// --allow-other mount) appends to and overwrites files in a loop, fsyncing
// some writes; the daemon is SIGKILLed at random instants, HC_CRASH_KILLS
// times (200 unless set), over a lower dir on a small loop-mounted ext4.
// After each kill: fsck of the lower dir is clean; remounted, every file
// reads without EIO, everything fsynced is there, and every other byte is
// the old one or one a logged write put there. The odd lanes keep their files
// under 4,000 bytes: each lower write then lies within one page of a file
// whose record slot is empty, which format 2 makes without a write record
// (src/engine/write-journal.ts), so those lanes kill daemons in the middle of
// record-less writes.
// HC_CRASH_FORMAT=1 runs the same against a format-1 volume (which fails).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { skipUnless } from '../helpers/requirements.js';
import { PASS, hc } from '../engine/volume-helper.js';
import { openVolume, readVolumeConfig } from '../../src/engine/volume.js';
import { gatherVolumeKeys } from '../../src/engine/volume-keys.js';
import { fsckVolume } from '../../src/engine/fsck.js';
import { serializeVolumeConfig } from '../../src/format/volume-config.js';
// @ts-expect-error: a plain .mjs module (the writer runs it under node)
import { dataOf } from './crash-writer.mjs';

const KILLS = Number(process.env.HC_CRASH_KILLS ?? 200);
/** Volumes killed side by side (a daemon takes ~1 s to start on a loaded machine). */
const LANES = Number(process.env.HC_CRASH_LANES ?? 4);
const FORMAT = process.env.HC_CRASH_FORMAT === '1' ? 1 : 2;
const WRITER = new URL('./crash-writer.mjs', import.meta.url).pathname;
const DAEMON = new URL('./crash-daemon.mjs', import.meta.url).pathname;
const REPO = new URL('../..', import.meta.url).pathname;
/** The daemons run from a copy of dist/ made at the start: a rebuild during the run cannot change them. */
let dist = '';
const FILES = ['f0', 'f1', 'f2', 'f3'];
/** Largest file size per lane: 2 MiB, or (odd lanes) small enough that every write stays inside one lower page. */
const maxSizeOf = (lane: number): number => (lane % 2 === 1 ? 4000 : 2 << 20);
const NOBODY = 65534;
/** HC_CRASH_PROGRESS=FILE: a line per kill, to follow a long run. */
const progress = (line: string): void => {
  if (process.env.HC_CRASH_PROGRESS) fs.appendFileSync(process.env.HC_CRASH_PROGRESS, `${new Date().toISOString()} ${line}\n`);
};
const mountMs: number[] = [];

interface Op {
  off: number;
  data: Buffer;
}

/** Applies the logged writes of one cycle to `base`; returns per file the fsynced state and the writes after it. */
function replay(base: Buffer[], log: string): { synced: Buffer[]; later: Op[][] } {
  const content: Buffer[] = base.map((b) => Buffer.from(b));
  const ops: Op[][] = FILES.map(() => []);
  const synced = base.map((b) => Buffer.from(b));
  const syncedAt = FILES.map(() => 0);
  const apply = (c: Buffer, o: Op): Buffer => {
    const n = c.length >= o.off + o.data.length ? Buffer.from(c) : Buffer.concat([c, Buffer.alloc(o.off + o.data.length - c.length)]);
    o.data.copy(n, o.off);
    return n;
  };
  for (const line of log.split('\n')) {
    const w = line.split(' ');
    if (w[0] === 'op') {
      const i = Number(w[2]);
      const o = { off: Number(w[3]), data: dataOf(w[1], Number(w[4])) as Buffer };
      ops[i]!.push(o);
      content[i] = apply(content[i]!, o);
    } else if (w[0] === 'fsync') {
      const i = Number(w[1]);
      synced[i] = Buffer.from(content[i]!);
      syncedAt[i] = ops[i]!.length;
    }
  }
  return { synced, later: ops.map((o, i) => o.slice(syncedAt[i])) };
}

/** Why `got` is not the fsynced state plus some of the later writes; null when it is. */
function mismatch(got: Buffer, synced: Buffer, later: Op[]): string | null {
  const max = later.reduce((m, o) => Math.max(m, o.off + o.data.length), synced.length);
  if (got.length < synced.length) return `${got.length} bytes, fewer than the ${synced.length} fsynced`;
  if (got.length > max) return `${got.length} bytes, more than the ${max} written`;
  for (let p = 0; p < got.length; p++) {
    if (p < synced.length && got[p] === synced[p]) continue;
    if (p >= synced.length && got[p] === 0) continue; // bytes of a write that grew the file, not there yet
    if (later.some((o) => p >= o.off && p < o.off + o.data.length && o.data[p - o.off] === got[p])) continue;
    return `byte ${p} is ${got[p]}: neither fsynced nor written since`;
  }
  return null;
}

/** One volume with its daemon: the lanes of the test run side by side (each its own kills). */
class Lane {
  readonly lower: string;
  readonly mnt: string;
  daemon: ChildProcess | null = null;
  daemonOut = '';
  keys: Buffer[] = [];
  readonly failures: string[] = [];
  ops = 0;
  fsyncs = 0;
  base: Buffer[] = FILES.map(() => Buffer.alloc(0));
  /** The lane's writer, one process for all its runs (as another user). */
  writer: ChildProcess | null = null;
  private stopped: (() => void) | null = null;

  constructor(
    readonly dir: string,
    fsDir: string,
    readonly n: number,
  ) {
    this.lower = join(fsDir, `lower-${n}`);
    this.mnt = join(dir, `mnt-${n}`);
    fs.mkdirSync(this.mnt);
  }

  async init(): Promise<void> {
    expect(hc(['init', this.lower, '--passphrase-fd', '0', '--kdf-time', '0.05'], `${PASS}\n`).code).toBe(0);
    const config = readVolumeConfig(this.lower);
    this.keys = await gatherVolumeKeys(this.lower, config, { secret: async () => Buffer.from(PASS), noKeyring: true });
    if (FORMAT === 1) {
      // a format-1 volume, as older homecrypt made them (no files in it yet)
      fs.writeFileSync(join(this.lower, 'homecrypt.conf'), serializeVolumeConfig({ ...config, version: 1 }, this.keys[0]!));
      fs.rmSync(join(this.lower, 'homecrypt.diriv'), { force: true }); // format-2 names' state, unknown to format 1
    }
    await this.mount();
    fs.chmodSync(this.mnt, 0o777);
    for (const f of FILES) {
      fs.writeFileSync(join(this.mnt, f), '');
      fs.chmodSync(join(this.mnt, f), 0o666);
    }
  }

  async mount(): Promise<void> {
    const t0 = Date.now();
    const d = spawn(process.execPath, [DAEMON, dist, this.lower, this.mnt], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.daemon = d;
    d.stdin!.end(this.keys.map((k) => k.toString('hex')).join('\n'));
    d.stderr!.on('data', (b: Buffer) => {
      this.daemonOut += b.toString();
    });
    await new Promise<void>((res, rej) => {
      d.stdout!.on('data', (b: Buffer) => {
        if (b.toString().includes('ready')) {
          mountMs.push(Date.now() - t0);
          res();
        }
      });
      d.on('exit', () => rej(new Error(`mount failed: ${this.daemonOut}`)));
    });
  }

  /** One cycle: the writer runs, the daemon is killed, the lower dir is checked, the volume remounted and read. */
  async cycle(kill: number): Promise<void> {
    const logPath = join(this.dir, `writer-${this.n}-${kill}.log`);
    fs.writeFileSync(logPath, '');
    fs.chmodSync(logPath, 0o666);
    if (!this.writer) {
      this.writer = spawn('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, WRITER], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      this.writer.stderr!.on('data', (d: Buffer) => {
        this.writerErr += d.toString();
      });
      this.writer.stdout!.on('data', () => {
        this.stopped?.();
      });
    }
    const writerStopped = new Promise<void>((r) => {
      this.stopped = r;
    });
    this.writer.stdin!.write(`${this.mnt} ${logPath} ${this.n}.${kill} ${maxSizeOf(this.n)} ${FILES.join(' ')}\n`);
    const writerErr = (): string => this.writerErr;
    // the kill falls at a random instant of the writer's run, once it writes
    for (let t = 0; t < 200 && fs.statSync(logPath).size === 0; t++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, Math.random() * 300));
    const dead = new Promise((r) => this.daemon!.once('exit', r));
    this.daemon!.kill('SIGKILL');
    await dead;
    await writerStopped;
    execFileSync('fusermount', ['-u', '-z', this.mnt], { stdio: 'ignore' });
    const fail = (what: string): void => {
      this.failures.push(`lane ${this.n} kill ${kill}: ${what}`);
    };
    const log = fs.readFileSync(logPath, 'utf8');
    fs.unlinkSync(logPath);
    if (writerErr()) fail(`the writer: ${writerErr()}`);
    progress(`lane ${this.n} kill ${kill}: ${(log.match(/^op /gm) ?? []).length} writes`);
    this.ops += (log.match(/^op /gm) ?? []).length;
    this.fsyncs += (log.match(/^fsync /gm) ?? []).length;
    // fsck of the lower dir as the kill left it (fsck changes nothing)
    const report = fsckVolume(
      openVolume(
        this.lower,
        this.keys.map((k) => Buffer.from(k)),
      ),
    );
    for (const p of report.problems) fail(`fsck: ${p.path ?? p.lowerPath}: ${p.problem}`);
    await this.mount();
    const { synced, later } = replay(this.base, log);
    this.base = FILES.map((f, i) => {
      let got: Buffer;
      try {
        got = fs.readFileSync(join(this.mnt, f));
      } catch (err) {
        fail(`${f}: ${(err as NodeJS.ErrnoException).code}`);
        return this.base[i]!;
      }
      const why = mismatch(got, synced[i]!, later[i]!);
      if (why) fail(`${f}: ${why}`);
      return got;
    });
  }

  writerErr = '';

  stop(): void {
    this.writer?.kill('SIGKILL');
    this.daemon?.kill('SIGKILL');
    try {
      execFileSync('fusermount', ['-u', '-z', this.mnt], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
  }
}

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'the crash test'))(`format ${FORMAT}: SIGKILL of the daemon during writes`, () => {
  let dir: string;
  let fsDir: string;
  const lanes: Lane[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync('/tmp/hc-crash-');
    fs.chmodSync(dir, 0o755);
    const img = join(dir, 'img');
    fsDir = join(dir, 'fs');
    fs.mkdirSync(fsDir);
    fs.closeSync(fs.openSync(img, 'w'));
    fs.truncateSync(img, 96 << 20);
    execFileSync('mkfs.ext4', ['-q', '-F', img]);
    execFileSync('mount', ['-o', 'loop', img, fsDir]);
    const app = join(dir, 'app');
    fs.mkdirSync(app);
    fs.cpSync(join(REPO, 'dist'), join(app, 'dist'), { recursive: true });
    fs.copyFileSync(join(REPO, 'package.json'), join(app, 'package.json'));
    fs.symlinkSync(join(REPO, 'node_modules'), join(app, 'node_modules'));
    dist = join(app, 'dist');
    for (let n = 0; n < LANES; n++) lanes.push(new Lane(dir, fsDir, n));
    await Promise.all(lanes.map((l) => l.init()));
  }, 600_000);

  afterAll(() => {
    for (const l of lanes) l.stop();
    try {
      execFileSync('umount', [fsDir], { stdio: 'ignore' });
    } catch {
      try {
        execFileSync('umount', ['-l', fsDir], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`${KILLS} kills: fsck clean, every file readable, fsynced data intact`, async () => {
    const t0 = Date.now();
    await Promise.all(
      lanes.map(async (l) => {
        for (let kill = l.n; kill < KILLS && l.failures.length === 0; kill += LANES) await l.cycle(kill);
      }),
    );
    const failures = lanes.flatMap((l) => l.failures);
    const ops = lanes.reduce((a, l) => a + l.ops, 0);
    const fsyncs = lanes.reduce((a, l) => a + l.fsyncs, 0);
    const recovered = lanes.reduce((a, l) => a + (l.daemonOut.match(/rolled back/g) ?? []).length, 0);
    const sorted = [...mountMs].sort((a, b) => a - b);
    console.log(
      `format ${FORMAT}: ${KILLS} kills in ${LANES} lanes, ${((Date.now() - t0) / 1000).toFixed(0)} s, ${ops} writes, ` +
        `${fsyncs} fsyncs, ${recovered} recoveries from a write record, median mount ${sorted[sorted.length >> 1]} ms; ` +
        `${failures.length} failure(s)`,
    );
    expect(failures.slice(0, 10)).toEqual([]);
    expect(ops).toBeGreaterThan(KILLS); // the writers did run between the kills
  }, 1_800_000); // about a minute on an idle 2-core machine; far longer under heavy load
});
