// The table "Attacks on file contents" of docs/SECURITY.md, one test per row,
// on a format-2 volume: each row tampers with the lower directory the way an
// attacker with write access to it could, then asserts exactly the documented
// outcome on the mount (EIO, or silently accepted) and in `homecrypt fsck`.
// The volume uses plaintext names, so a file's lower path is its name (names
// are not what this table is about).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { skipUnless } from '../helpers/requirements.js';
import { hc, makeVolume, PASS, type TestVolume } from '../engine/volume-helper.js';
import { BLOCK_LOWER, LAYOUT_V2 } from '../../src/format/block-offsets.js';
import { FILE_HEADER_BYTES } from '../../src/format/file-header.js';

const at = (b: number): number => LAYOUT_V2.lowerOffsetOfBlock(b);
/** A file of 3 full blocks and a final block of 500 bytes. */
const SIZE = 3 * 4096 + 500;

type Outcome = 'EIO' | 'accepted';
interface Row {
  name: string;
  /** What the mount gives: EIO, or the content it silently reads. */
  outcome: Outcome;
  /** Sets up the file `f` (and maybe `other`) through the mount, tampers with the lower dir; returns the content an accepted attack reads. */
  attack(t: Tamper): Buffer | void;
}

interface Tamper {
  mnt(name: string): string;
  lower(name: string): string;
  /** Writes `data` to `name` through the mount and waits until it is in the lower file. */
  put(name: string, data: Buffer, offset?: number): void;
}

const flip = (t: Tamper, name: string, off: number): void => {
  const b = fs.readFileSync(t.lower(name));
  b[off]! ^= 0x10;
  fs.writeFileSync(t.lower(name), b);
};
const cut = (t: Tamper, name: string, size: number): void => fs.truncateSync(t.lower(name), size);
/** A row: the file `f` of SIZE bytes, its lower file cut to `size` bytes: EIO. */
const cutTo = (name: string, size: number): Row => ({
  name,
  outcome: 'EIO',
  attack: (t) => {
    t.put('f', randomBytes(SIZE));
    cut(t, 'f', size);
  },
});
const copyRange = (from: string, to: string, start: number, end: number): void => {
  const src = fs.readFileSync(from);
  const dst = fs.readFileSync(to);
  src.copy(dst, start, start, end);
  fs.writeFileSync(to, dst);
};

export const ROWS: Row[] = [
  {
    name: 'bit flip in the header',
    outcome: 'EIO',
    attack: (t) => {
      t.put('f', randomBytes(SIZE));
      flip(t, 'f', 40);
    },
  },
  {
    name: 'bit flip in a block nonce',
    outcome: 'EIO',
    attack: (t) => {
      t.put('f', randomBytes(SIZE));
      flip(t, 'f', at(1) + 3);
    },
  },
  {
    name: 'bit flip in a block ciphertext',
    outcome: 'EIO',
    attack: (t) => {
      t.put('f', randomBytes(SIZE));
      flip(t, 'f', at(1) + 2000);
    },
  },
  {
    name: 'bit flip in a block tag',
    outcome: 'EIO',
    attack: (t) => {
      t.put('f', randomBytes(SIZE));
      flip(t, 'f', at(2) - 5);
    },
  },
  {
    name: 'two blocks of a file swapped',
    outcome: 'EIO',
    attack: (t) => {
      t.put('f', randomBytes(SIZE));
      const b = fs.readFileSync(t.lower('f'));
      const x = Buffer.from(b.subarray(at(0), at(1)));
      b.copy(b, at(0), at(1), at(2));
      x.copy(b, at(1));
      fs.writeFileSync(t.lower('f'), b);
    },
  },
  {
    name: 'a block copied from another file',
    outcome: 'EIO',
    attack: (t) => {
      t.put('f', randomBytes(SIZE));
      t.put('other', randomBytes(SIZE));
      copyRange(t.lower('other'), t.lower('f'), at(1), at(2));
    },
  },
  {
    name: 'one block rolled back to an older version of the same file',
    outcome: 'accepted',
    attack: (t) => {
      const v1 = randomBytes(SIZE);
      t.put('f', v1);
      const old = fs.readFileSync(t.lower('f'));
      const v2 = randomBytes(SIZE);
      t.put('f', v2);
      const now = fs.readFileSync(t.lower('f'));
      old.copy(now, at(1), at(1), at(2));
      fs.writeFileSync(t.lower('f'), now);
      // a mix: version 2 with version 1's block 1
      return Buffer.concat([v2.subarray(0, 4096), v1.subarray(4096, 8192), v2.subarray(8192)]);
    },
  },
  {
    name: 'the final block rolled back to an older, shorter version',
    outcome: 'accepted',
    attack: (t) => {
      const v1 = randomBytes(SIZE);
      t.put('f', v1);
      const old = fs.readFileSync(t.lower('f'));
      t.put('f', randomBytes(1000), SIZE); // appended
      const now = fs.readFileSync(t.lower('f'));
      old.copy(now, at(3), at(3));
      fs.writeFileSync(t.lower('f'), now.subarray(0, old.length));
      return v1;
    },
  },
  {
    name: 'the whole file rolled back to an older version',
    outcome: 'accepted',
    attack: (t) => {
      const v1 = randomBytes(SIZE);
      t.put('f', v1);
      const old = fs.readFileSync(t.lower('f'));
      t.put('f', randomBytes(SIZE + 9000));
      fs.writeFileSync(t.lower('f'), old);
      return v1;
    },
  },
  cutTo('cut inside the header', 50),
  cutTo('cut to exactly the header', FILE_HEADER_BYTES),
  cutTo('cut inside the write record slot', 5000),
  cutTo('cut where the blocks start (no block left)', at(0)),
  cutTo('cut inside the first block', at(0) + 100),
  cutTo('cut at the end of block 0', at(1)),
  cutTo('cut at the end of block 1', at(2)),
  cutTo('cut at the end of block 2', at(3)),
  cutTo('cut inside the last block', at(3) + 100),
  {
    name: 'a block appended from the same file',
    outcome: 'EIO',
    attack: (t) => {
      t.put('f', randomBytes(4 * 4096));
      const b = fs.readFileSync(t.lower('f'));
      fs.writeFileSync(t.lower('f'), Buffer.concat([b, b.subarray(at(1), at(1) + BLOCK_LOWER)]));
    },
  },
  {
    name: 'headers swapped between two files',
    outcome: 'EIO',
    attack: (t) => {
      t.put('f', randomBytes(SIZE));
      t.put('other', randomBytes(SIZE));
      copyRange(t.lower('other'), t.lower('f'), 0, FILE_HEADER_BYTES);
    },
  },
  {
    name: 'a write record forged or edited',
    outcome: 'accepted',
    attack: (t) => {
      const v = randomBytes(SIZE);
      t.put('f', v);
      const b = fs.readFileSync(t.lower('f'));
      Buffer.from('HCW2').copy(b, FILE_HEADER_BYTES);
      randomBytes(200).copy(b, FILE_HEADER_BYTES + 4);
      b.writeUInt32BE(100, FILE_HEADER_BYTES + 4);
      fs.writeFileSync(t.lower('f'), b);
      return v; // a record that does not authenticate is ignored
    },
  },
];

describe.skipIf(skipUnless('fuse', 'the content attack table'))('format 2: attacks on file contents', () => {
  let v: TestVolume;
  const problems = new Map<string, string>();
  const expected = new Map<string, Buffer | void>();
  const dirOf = (i: number): string => `row${i}`;

  beforeAll(() => {
    v = makeVolume({ plaintextNames: true });
    v.mount();
    ROWS.forEach((row, i) => {
      const d = dirOf(i);
      fs.mkdirSync(join(v.mnt, d));
      const t: Tamper = {
        mnt: (n) => join(v.mnt, d, n),
        lower: (n) => join(v.lower, d, n),
        put(n, data, offset) {
          const fd = fs.openSync(join(v.mnt, d, n), fs.existsSync(join(v.mnt, d, n)) ? 'r+' : 'w+');
          fs.writeSync(fd, data, 0, data.length, offset ?? 0);
          if (offset === undefined) fs.ftruncateSync(fd, data.length);
          fs.fsyncSync(fd); // the write reaches the lower file before the tamper
          fs.closeSync(fd);
        },
      };
      expected.set(row.name, row.attack(t));
    });
    const r = hc(['fsck', v.lower, '--passphrase-fd', '0', '--json'], `${PASS}\n`);
    for (const p of JSON.parse(r.stdout).problems as { lowerPath: string; problem: string }[]) problems.set(p.lowerPath, p.problem);
  }, 180_000);

  afterAll(() => {
    try {
      v.umount();
    } catch {
      /* already */
    } finally {
      v.cleanup();
    }
  });

  ROWS.forEach((row, i) => {
    it(`${row.name}: ${row.outcome === 'EIO' ? 'EIO on the mount, reported by fsck' : 'silently accepted, by the mount and by fsck'}`, () => {
      const file = join(v.mnt, dirOf(i), 'f');
      let got: Buffer | null = null;
      let code: string | undefined;
      try {
        got = fs.readFileSync(file);
      } catch (err) {
        code = (err as NodeJS.ErrnoException).code;
      }
      const lowerPath = join(v.lower, dirOf(i), 'f');
      if (row.outcome === 'EIO') {
        expect(code).toBe('EIO');
        expect(v.log()).toContain(lowerPath);
        expect(problems.get(lowerPath)).toBeDefined();
      } else {
        expect(code).toBeUndefined();
        expect(got!.equals(expected.get(row.name) as Buffer)).toBe(true);
        expect(problems.get(lowerPath)).toBeUndefined();
      }
      // the other file of a two-file row is untouched
      if (fs.existsSync(join(v.lower, dirOf(i), 'other'))) expect(problems.get(join(v.lower, dirOf(i), 'other'))).toBeUndefined();
    });
  });

  it('user xattr values swapped between two files: silently accepted, by the mount and by fsck', () => {
    const a = join(v.mnt, 'xa');
    const b = join(v.mnt, 'xb');
    fs.writeFileSync(a, 'a');
    fs.writeFileSync(b, 'b');
    execFileSync('setfattr', ['-n', 'user.tag', '-v', 'value-of-a', a]);
    execFileSync('setfattr', ['-n', 'user.tag', '-v', 'value-of-b', b]);
    const raw = (p: string): string => execFileSync('getfattr', ['-n', 'user.tag', '-e', 'hex', '--only-values', p]).toString('hex');
    const la = join(v.lower, 'xa');
    const lb = join(v.lower, 'xb');
    const va = execFileSync('getfattr', ['-n', 'user.tag', '-e', 'hex', la])
      .toString()
      .match(/user\.tag=(0x[0-9a-f]+)/)![1]!;
    const vb = execFileSync('getfattr', ['-n', 'user.tag', '-e', 'hex', lb])
      .toString()
      .match(/user\.tag=(0x[0-9a-f]+)/)![1]!;
    execFileSync('setfattr', ['-n', 'user.tag', '-v', vb, la]);
    execFileSync('setfattr', ['-n', 'user.tag', '-v', va, lb]);
    expect(raw(a)).toBe(Buffer.from('value-of-b').toString('hex'));
    expect(raw(b)).toBe(Buffer.from('value-of-a').toString('hex'));
    const r = hc(['fsck', v.lower, '--passphrase-fd', '0', '--json'], `${PASS}\n`);
    expect(JSON.parse(r.stdout).problems).toEqual([...problems.entries()].map(([lowerPath]) => expect.objectContaining({ lowerPath })));
  });
});
