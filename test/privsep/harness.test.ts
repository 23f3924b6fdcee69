// The race harness, shown to bite, and the primitives of issue #13 under it:
// the old root steps (create a temp file in the user's folder then chown it
// by name; rm -rf by name) hand a root-owned canary to the user within a few
// runs, while writeFileAtomic (fchown on the descriptor), the user worker
// and removeTreeAt (dirfd walk) never touch the canaries across many runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chownSync,
  closeSync,
  constants,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { createTestUser, removeTestUser, type TestUser } from '../helpers/users.js';
import { makeCanaries, racedRuns, startSwapper, swapsDuring, type Canaries } from '../helpers/race.js';
import { writeFileAtomic } from '../../src/os/atomic-file.js';
import { openTrustedDir, openDirAt, removeTreeAt, withFd } from '../../src/os/dir-fd.js';
import { userWorker } from '../../src/session/user-worker-client.js';
import { lookupUser } from '../../src/os/users.js';

const RUNS = 40;
/** How long the old code below dwells between reading a name and acting on it: the
 * window a loaded machine or a slow disk gives an attacker anyway. The bite tests
 * are only there to show the harness catches a by-name step, not to time a race. */
const WINDOW_MS = 15;
const dwell = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, WINDOW_MS);

/** The root steps issue #13 found exploitable, kept here only to show the harness catches them. */
function oldRootWrite(path: string, data: Buffer, uid: number, gid: number): void {
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  writeSync(fd, data);
  fsyncSync(fd);
  closeSync(fd);
  dwell();
  chownSync(tmp, uid, gid);
  renameSync(tmp, path);
}

/** rm -rf as a path walk does it (rimraf, `rm -r` without openat): each name is resolved again at each step. */
function oldRemoveByName(path: string): void {
  if (!lstatSync(path).isDirectory()) {
    unlinkSync(path);
    return;
  }
  const names = readdirSync(path);
  dwell();
  for (const n of names) {
    try {
      oldRemoveByName(join(path, n));
    } catch {
      /* a swapped name can vanish; rm -rf goes on */
    }
  }
  rmdirSync(path);
}

describe.skipIf(skipUnless('root', 'race harness'))('race harness (issue #13)', () => {
  let u: TestUser;
  let c: Canaries;
  let area: string;

  beforeAll(() => {
    u = createTestUser('hcr');
    area = join(u.home, 'race');
    mkdirSync(area, { mode: 0o700 });
    chownSync(area, u.uid, u.gid);
  });
  afterAll(() => {
    c?.remove();
    if (u) removeTestUser(u);
  });

  const fresh = () => {
    c?.remove();
    c = makeCanaries();
    return c.snapshot();
  };
  const clearArea = () => {
    rmSync(area, { recursive: true, force: true });
    mkdirSync(area, { mode: 0o700 });
    chownSync(area, u.uid, u.gid);
  };

  it(`bites: root's old chown-by-name of a temp file gives the canary to the user within ${RUNS} runs`, async () => {
    const before = fresh();
    const sw = await startSwapper(u, c, { watch: [area], match: '\\.tmp-', events: ['create'] });
    let bitten = 0;
    for (let i = 0; i < RUNS && bitten === 0; i++) {
      try {
        oldRootWrite(join(area, 'store'), Buffer.from(`run ${i}\n`), u.uid, u.gid);
      } catch {
        /* a swap can make it fail */
      }
      if (lstatSync(c.file).uid !== 0) bitten++;
    }
    const swaps = await sw.stop();
    expect(swaps).toBeGreaterThan(0);
    expect(bitten, 'the harness must be able to catch the old code').toBeGreaterThan(0);
    expect(c.snapshot()).not.toBe(before);
  });

  it(`writeFileAtomic as root for a user (fchown on the descriptor): canary unchanged across ${RUNS} raced runs (more until a swap lands)`, async () => {
    clearArea();
    const before = fresh();
    // a batch of RUNS under one swapper, then another batch while none of its swaps landed
    const swaps = await racedRuns(1, async (batch) => {
      const sw = await startSwapper(u, c, { watch: [area], match: '\\.tmp-', events: ['create'] });
      return swapsDuring(sw, () => {
        for (let i = 0; i < RUNS; i++) {
          try {
            writeFileAtomic(join(area, 'store'), Buffer.from(`run ${batch}.${i}\n`), { mode: 0o600, uid: u.uid, gid: u.gid });
          } catch (err) {
            // a swapped temp name is reported, never taken for the file written
            expect((err as Error).message).toMatch(/replaced by another file|ENOENT|EEXIST/);
          }
          expect(c.snapshot()).toBe(before);
        }
      });
    });
    expect(swaps).toBeGreaterThan(0);
    expect(c.snapshot()).toBe(before);
    // the control, unattacked: the file is written and handed to the user
    writeFileAtomic(join(area, 'store'), Buffer.from('control\n'), { mode: 0o600, uid: u.uid, gid: u.gid });
    expect(readFileSync(join(area, 'store'), 'utf8')).toBe('control\n');
    expect(lstatSync(join(area, 'store')).uid).toBe(u.uid);
  });

  it('the user worker: key-store writes, mkdir, initLower and removes as the user leave the canaries alone across 12 raced runs (more until a swap lands)', async () => {
    clearArea();
    const before = fresh();
    const account = lookupUser(u.name);
    const w = userWorker(account);
    // a batch of 12 under one swapper, then another batch while none of its swaps landed
    const swaps = await racedRuns(1, async (batch) => {
      const sw = await startSwapper(u, c, {
        watch: [area],
        match: '^(\\..*\\.tmp-.*|keys|lower|homecrypt\\.conf|sub)$',
        events: ['create', 'open'],
        recursive: true,
      });
      return swapsDuring(sw, async () => {
        for (let i = 0; i < 12; i++) {
          const key = randomBytes(32);
          try {
            await w.runAll([
              { req: { op: 'mkdir', path: join(area, 'sub'), mode: 0o700 } },
              { req: { op: 'writeFile', path: join(area, 'keys'), mode: 0o600 }, payload: Buffer.from(`store ${batch}.${i}`) },
              { req: { op: 'initLower', lower: join(area, `lower`), keyStore: join(area, 'keys') }, payload: key },
              { req: { op: 'remove', path: join(area, 'lower') } },
              { req: { op: 'remove', path: join(area, 'sub') } },
            ]);
          } catch (err) {
            // refused or failed on a swapped name: must say what
            expect((err as Error).message).toMatch(/\S/);
          }
          expect(c.snapshot()).toBe(before);
        }
      });
    });
    expect(swaps).toBeGreaterThan(0);
    expect(c.snapshot()).toBe(before);
  }, 240_000);

  const makeTree = () => {
    clearArea();
    const t = join(area, 't');
    for (let d = 0; d < 6; d++) {
      mkdirSync(join(t, `d${d}`, `d${d}x`), { recursive: true });
      // an attacker names files like those in the target directory: the canary holds `inside`
      for (const f of ['f0', 'f1', 'inside']) writeFileSync(join(t, `d${d}`, f), 'x');
    }
    for (const p of [
      t,
      ...[0, 1, 2, 3, 4, 5].flatMap((d) => [join(t, `d${d}`), join(t, `d${d}`, `d${d}x`), ...['f0', 'f1', 'inside'].map((f) => join(t, `d${d}`, f))]),
    ])
      chownSync(p, u.uid, u.gid);
    return t;
  };

  it(`bites: root's old rm -rf by name of a user tree deletes inside the canary directory within ${RUNS} runs`, async () => {
    let bitten = 0;
    let swaps = 0;
    for (let i = 0; i < RUNS && bitten === 0; i++) {
      const t = makeTree();
      const before = fresh();
      const sw = await startSwapper(u, c, { watch: [t], match: '^d\\d+x?$', events: ['open'], recursive: true });
      try {
        oldRemoveByName(t);
      } catch {
        /* a swap can make it fail */
      }
      swaps += await sw.stop();
      if (c.snapshot() !== before) bitten++;
    }
    expect(swaps).toBeGreaterThan(0);
    expect(bitten, 'the harness must be able to catch the old code').toBeGreaterThan(0);
  }, 300_000);

  it(`removeTreeAt (dirfd walk, as root): canary directory unchanged across ${RUNS} raced runs (more until a swap lands)`, async () => {
    const swaps = await racedRuns(RUNS, async () => {
      const t = makeTree();
      const before = fresh();
      const sw = await startSwapper(u, c, { watch: [t], match: '^d\\d+x?$', events: ['open'], recursive: true });
      const n = await swapsDuring(sw, () => {
        try {
          withFd(openTrustedDir('/home'), (h) => withFd(openDirAt(h, u.name), (hd) => withFd(openDirAt(hd, 'race'), (r) => removeTreeAt(r, 't'))));
        } catch (err) {
          expect((err as NodeJS.ErrnoException).code).toMatch(/^E[A-Z]+$/);
        }
      });
      expect(c.snapshot()).toBe(before);
      expect(readFileSync(join(c.dir, 'inside'), 'utf8')).toMatch(/^inside /);
      return n;
    });
    expect(swaps).toBeGreaterThan(0);
  }, 300_000);
});
