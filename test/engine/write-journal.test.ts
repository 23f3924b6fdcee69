// Which writes of the engine leave a write record (src/engine/write-journal.ts),
// seen in the lower files: a new small file's write makes none, and what one
// handle did to a file's record slot is known to every other handle of it.
// Driven through the engine's operations directly; the crash behaviour of the
// same writes is test/format2/torn-writes.test.ts and crash.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openVolume, writeNewVolumeConfig } from '../../src/engine/volume.js';
import { EncryptedFilesystem } from '../../src/engine/filesystem.js';
import { AfterReply } from '../../src/engine/after-reply.js';
import { MemIO } from './mem-io.js';

const KEY = Buffer.alloc(32, 0x3c);
const RECORD_AT = 92; // the slot follows the header (docs/FORMAT-FILES.md, "Format 2")
const dir = mkdtempSync('/tmp/hc-write-journal-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function engine(name: string) {
  const lower = join(dir, name);
  mkdirSync(lower, { mode: 0o700 });
  writeNewVolumeConfig(lower, KEY, { keystore: null });
  const vol = openVolume(lower, [KEY]);
  expect(vol.format.formatVersion).toBe(2);
  const fs = new EncryptedFilesystem({ lowerRoot: vol.lowerRoot, format: vol.format, log: () => undefined, afterReply: new AfterReply() });
  const lowerFile = (p: string): Buffer => readFileSync(join(lower, fs.lower(p).name));
  const slot = (p: string): string =>
    lowerFile(p)
      .subarray(RECORD_AT, RECORD_AT + 4)
      .toString('latin1');
  /** The file as the next open after a kill now would see it (the record applied if unfinished). */
  const afterKill = (p: string): Buffer => {
    const io = new MemIO(lowerFile(p));
    if (vol.format.files.hasPendingWrite!(io)) vol.format.files.recover!(io);
    const c = vol.format.files.open(io);
    return c.read(io, 0, c.plaintextSize(io.size()) + 1);
  };
  return { fs, slot, afterKill };
}

describe('write records of the engine’s writes (format 2)', () => {
  it('a new file’s small write leaves the slot empty; one that crosses a lower page leaves its record until the close', () => {
    const { fs, slot, afterKill } = engine('a');
    const small = randomBytes(3000);
    const s = fs.create('/small', 0o600);
    fs.write('/small', s, small, 0);
    expect(slot('/small')).toBe('\0\0\0\0'); // no record (the slot is still a hole)
    expect(afterKill('/small').equals(small)).toBe(true);
    const big = randomBytes(10_000);
    const b = fs.create('/big', 0o600);
    fs.write('/big', b, big, 0);
    expect(slot('/big')).toBe('HCW2');
    fs.release('/big', b);
    expect(slot('/big')).toBe('\0\0\0\0');
    fs.release('/small', s);
    expect(slot('/small')).toBe('\0\0\0\0');
    fs.closeAll();
  });

  it('a small write after another handle’s record makes its own (the slot is known per inode), so a kill keeps both writes', () => {
    const { fs, slot, afterKill } = engine('b');
    const data = randomBytes(3000);
    const w = fs.create('/f', 0o600);
    fs.write('/f', w, data, 0); // no record
    const other = fs.open('/f', 2);
    fs.ftruncate('/f', other, 1000); // a record (redo of the cut), finished, left in the slot
    expect(slot('/f')).toBe('HCW2');
    const more = randomBytes(500);
    fs.write('/f', w, more, 1000); // inside one page, but the slot is not empty: recorded
    // killed now, neither handle closed: the next open must not undo anything
    expect(afterKill('/f').equals(Buffer.concat([data.subarray(0, 1000), more]))).toBe(true);
    fs.release('/f', other);
    fs.release('/f', w);
    expect(slot('/f')).toBe('\0\0\0\0');
    // reopened: the open reads the (empty) slot, so a small write needs no record again
    const again = fs.open('/f', 2);
    fs.write('/f', again, randomBytes(10), 0);
    expect(slot('/f')).toBe('\0\0\0\0');
    fs.release('/f', again);
    fs.closeAll();
  });
});
