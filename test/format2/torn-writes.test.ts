// Format 2 against every kill point of every kind of change: each pwrite is
// cut at each page boundary (where the kernel stops a write on SIGKILL) and
// between syscalls; the next open recovers the file, which then reads as the
// old content or the new, never EIO. Format 1 is shown to fail the same test.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { MountKeys } from '../../src/engine/mount-keys.js';
import { homecryptFormat } from '../../src/engine/homecrypt-format.js';
import type { FileCipher, VolumeFormat } from '../../src/engine/volume-format.js';
import { keyIdOf } from '../../src/crypto/key-id.js';
import { MemIO } from '../engine/mem-io.js';

const KEY = Buffer.alloc(32, 7);
const PAGE = 4096;

class Killed extends Error {}

/** A MemIO that dies after `budget` page-sized pieces of writes (ftruncate and punch count as one). */
class TearIO extends MemIO {
  steps = 0;
  constructor(
    initial: Buffer,
    private readonly budget: number,
  ) {
    super(initial);
  }
  private step(): void {
    if (this.steps++ >= this.budget) throw new Killed();
  }
  override pwrite(d: Buffer, offset: number): void {
    let at = 0;
    while (at < d.length) {
      const end = Math.min(d.length, (Math.floor((offset + at) / PAGE) + 1) * PAGE - offset);
      this.step();
      super.pwrite(d.subarray(at, end), offset + at);
      at = end;
    }
  }
  override ftruncate(n: number): void {
    this.step();
    super.ftruncate(n);
  }
  override punch(o: number, n: number): void {
    this.step();
    super.punch(o, n);
  }
}

function fmt(version: 1 | 2): VolumeFormat {
  return homecryptFormat(new MountKeys(KEY, keyIdOf(KEY)), { plaintextNames: false, version });
}

function created(f: VolumeFormat): { io: MemIO; cipher: FileCipher } {
  const { bytes, tail, cipher } = f.files.create();
  const io = new MemIO(bytes);
  if (tail) io.pwrite(tail.bytes, tail.at);
  return { io, cipher };
}

function readAll(f: VolumeFormat, io: MemIO): Buffer {
  if (f.files.hasPendingWrite?.(io)) f.files.recover!(io);
  const c = f.files.open(io);
  return c.read(io, 0, c.plaintextSize(io.size()) + 1);
}

type Op = (c: FileCipher, io: MemIO) => void;
/** The bytes every op writes: the same in each of its runs, so old and new are well defined. */
const R = randomBytes(256 * 1024);
const bytes = (n: number): Buffer => R.subarray(0, n);
const OPS: Array<[string, number, Op]> = [
  ['append to a partial final block', 5000, (c, io) => c.write(io, 5000, bytes(3000))],
  ['append after a full final block', 8192, (c, io) => c.write(io, 8192, bytes(128 * 1024))],
  ['first write to an empty file', 0, (c, io) => c.write(io, 0, bytes(10240))],
  ['overwrite of many blocks in the middle', 40000, (c, io) => c.write(io, 1000, bytes(20000))],
  ['overwrite that extends the file', 9000, (c, io) => c.write(io, 100, bytes(12000))],
  // whole blocks in place: a redo record (the new sealed bytes), no read of the old ones
  ['overwrite of one whole block in the middle', 40000, (c, io) => c.write(io, 8192, bytes(4096))],
  ['overwrite of the whole final block', 12288, (c, io) => c.write(io, 8192, bytes(4096))],
  ['overwrite of the whole partial final block', 10000, (c, io) => c.write(io, 8192, bytes(1808))],
  ['overwrite of several whole blocks', 40000, (c, io) => c.write(io, 4096, bytes(3 * 4096))],
  ['write far past the end (a hole)', 3000, (c, io) => c.write(io, 50000, bytes(100))],
  ['truncate down inside a block', 20000, (c, io) => c.truncate(io, 6000)],
  ['truncate to zero', 20000, (c, io) => c.truncate(io, 0)],
  ['truncate up within the next block', 3000, (c, io) => c.truncate(io, 6000)],
  ['truncate up far (holes)', 3000, (c, io) => c.truncate(io, 100000)],
  ['punch a hole', 30000, (c, io) => c.punchHole!(io, 1000, 20000)],
];

/**
 * A change that is one write record (every change but those below) resolves
 * to the old or the new content. Those below are several steps, each left
 * whole: an overwrite of several existing blocks goes block by block, a write
 * past the end grows the file first, a punch is the lower file's own; a kill
 * between steps leaves some of the new bytes, like a kernel filesystem.
 */
const STEPPED = new Set([
  'overwrite of many blocks in the middle',
  'overwrite that extends the file',
  'overwrite of several whole blocks',
  'write far past the end (a hole)',
  'punch a hole',
]);
const whole = new Set(OPS.map(([name]) => name).filter((n) => !STEPPED.has(n)));

/** Every byte of `got` is the old one or the new one there (0 past an end), and its size is between. */
function between(got: Buffer, a: Buffer, b: Buffer): boolean {
  if (got.length < Math.min(a.length, b.length) || got.length > Math.max(a.length, b.length)) return false;
  for (let i = 0; i < got.length; i++) if (got[i] !== (a[i] ?? 0) && got[i] !== (b[i] ?? 0)) return false;
  return true;
}

/** For each op: how many kill points gave neither the old nor the new content. */
function tornStates(version: 1 | 2): Map<string, number> {
  const f = fmt(version);
  const bad = new Map<string, number>();
  for (const [name, size, op] of OPS) {
    const { io, cipher } = created(f);
    cipher.write(io, 0, randomBytes(size));
    (cipher as { release?: (x: MemIO) => void }).release?.(io);
    const before = Buffer.from(io.data);
    const oldContent = readAll(f, new MemIO(before));
    const done = new TearIO(before, Infinity);
    op(f.files.open(done), done);
    const newContent = readAll(f, new MemIO(done.data));
    let n = 0;
    for (let k = 0; k < done.steps; k++) {
      const t = new TearIO(before, k);
      try {
        op(f.files.open(t), t);
      } catch (err) {
        if (!(err instanceof Killed)) throw err;
      }
      let got: Buffer | null;
      try {
        got = readAll(f, new MemIO(t.data));
      } catch {
        got = null;
      }
      if (!got || !between(got, oldContent, newContent)) n++;
      else if (whole.has(name) && !(got.equals(oldContent) || got.equals(newContent))) n++;
    }
    bad.set(name, n);
  }
  return bad;
}

describe('format 2: a kill at any page boundary or between syscalls', () => {
  it('leaves every file readable, each byte old or new (a one-record change: all old or all new)', () => {
    const bad = tornStates(2);
    for (const [name] of OPS) expect(bad.get(name), name).toBe(0);
  });

  it('format 1 does not (the same kills leave files that fail or mix)', () => {
    const bad = tornStates(1);
    expect(bad.get('append after a full final block')).toBeGreaterThan(0);
    expect(bad.get('first write to an empty file')).toBeGreaterThan(0);
  });
});

/** A MemIO that counts its reads. */
class CountIO extends MemIO {
  reads = 0;
  override pread(offset: number, length: number): Buffer {
    this.reads++;
    return super.pread(offset, length);
  }
  override preadInto(target: Buffer, offset: number): number {
    this.reads++;
    return super.preadInto(target, offset);
  }
}

describe('format 2: an overwrite of whole blocks in place', () => {
  const f = fmt(2);
  const setup = (size: number): { io: CountIO; c: FileCipher; before: Buffer } => {
    const { io: mem, cipher } = created(f);
    const content = randomBytes(size);
    cipher.write(mem, 0, content);
    const io = new CountIO(mem.data);
    const c = f.files.open(io); // reads the header
    io.reads = 0;
    return { io, c, before: content };
  };

  it('reads none of the old bytes (its record holds the new ones), and reads back as written', () => {
    for (const [at, len] of [
      [8192, 4096],
      [0, 4096],
      [4096, 5 * 4096],
    ] as const) {
      const { io, c, before } = setup(40000);
      const data = randomBytes(len);
      c.write(io, at, data);
      expect(io.reads, `${len} bytes at ${at}`).toBe(0);
      const want = Buffer.from(before);
      data.copy(want, at);
      expect(readAll(f, new MemIO(io.data)).equals(want)).toBe(true);
    }
  });

  it('a partial block still reads the old one to merge with', () => {
    const { io, c } = setup(40000);
    c.write(io, 8192, bytes(4095));
    expect(io.reads).toBeGreaterThan(0);
  });

  it('a kill after the record, before the block, finishes the write at the next open', () => {
    const { io, c, before } = setup(40000);
    const data = randomBytes(4096);
    // the first page-sized piece of the record goes, then the rest, then the daemon dies
    const t = new TearIO(io.data, 2);
    try {
      c.write(t, 8192, data);
    } catch (err) {
      if (!(err instanceof Killed)) throw err;
    }
    expect(f.files.hasPendingWrite?.(t)).toBe(true);
    const want = Buffer.from(before);
    data.copy(want, 8192);
    expect(readAll(f, new MemIO(t.data)).equals(want)).toBe(true);
  });
});

/**
 * A write inside one lower page, to a file whose record slot is known to be
 * empty (LowerIO.slotEmpty, kept by the engine per inode), makes no record:
 * most files of an untar are one such write. What may be skipped and what not.
 */
describe('format 2: writes without a record', () => {
  const f = fmt(2);
  const RECORD_AT = 92;
  /** A new file as the engine leaves it after create: the slot a hole, known empty. */
  function fresh(): { io: MemIO; cipher: FileCipher } {
    const c = created(f);
    c.io.slotEmpty = true;
    return c;
  }
  const slotHolds = (io: MemIO): boolean => io.data.subarray(RECORD_AT, RECORD_AT + 4).equals(Buffer.from('HCW2'));

  it('a new file’s first write inside one page: one pwrite, no record, and at every kill point the old (empty) or the new content', () => {
    const { io, cipher } = fresh();
    const before = Buffer.from(io.data);
    const data = bytes(3000);
    const done = new TearIO(before, Infinity);
    done.slotEmpty = true;
    cipher.write(done, 0, data);
    expect(done.steps).toBe(1); // the block alone
    expect(slotHolds(done)).toBe(false);
    expect(readAll(f, new MemIO(done.data)).equals(data)).toBe(true);
    for (let k = 0; k <= done.steps; k++) {
      const t = new TearIO(before, k);
      t.slotEmpty = true;
      try {
        cipher.write(t, 0, data);
      } catch (err) {
        if (!(err instanceof Killed)) throw err;
      }
      const got = readAll(f, new MemIO(t.data));
      expect(got.length === 0 || got.equals(data), `kill after ${k} steps`).toBe(true);
    }
  });

  it('a second write inside the same page needs none either; the handle’s close then writes nothing', () => {
    const { io, cipher } = fresh();
    cipher.write(io, 0, bytes(1000));
    const t = new TearIO(io.data, Infinity);
    t.slotEmpty = true;
    cipher.write(t, 1000, bytes(2000).subarray(1000));
    expect(t.steps).toBe(1);
    (cipher as { release?: (x: MemIO) => void }).release?.(t);
    expect(t.steps).toBe(1); // no slot to empty
    expect(readAll(f, new MemIO(t.data)).equals(bytes(2000))).toBe(true);
  });

  it('a first write that crosses a page still makes its record (a kill between pages would tear the block)', () => {
    const { io, cipher } = fresh();
    cipher.write(io, 0, bytes(10240));
    expect(slotHolds(io)).toBe(true);
    expect(io.slotEmpty).toBe(false);
    (cipher as { release?: (x: MemIO) => void }).release?.(io);
    expect(slotHolds(io)).toBe(false);
    expect(io.slotEmpty).toBe(true);
  });

  it('a slot not known to be empty (or holding a finished record) keeps the record, whose tag the write would overwrite', () => {
    for (const slot of [undefined, false]) {
      const { io, cipher } = created(f);
      io.slotEmpty = slot;
      cipher.write(io, 0, bytes(100));
      expect(slotHolds(io), String(slot)).toBe(true);
    }
    // a finished record in the slot (a handle that wrote, still open) and a
    // second handle's small write over its tag: recorded, so a crash now
    // leaves the new content, not the state before the first record
    const { io, cipher } = fresh();
    cipher.write(io, 0, bytes(3000));
    const first = f.files.open(io);
    first.truncate(io, 1000); // a redo record, finished
    expect(slotHolds(io)).toBe(true);
    expect(io.slotEmpty).toBe(false);
    const second = f.files.open(io);
    second.write(io, 1000, bytes(500));
    const crashed = new MemIO(io.data); // the kill: neither handle closed
    const want = Buffer.concat([bytes(1000), bytes(500)]);
    expect(readAll(f, crashed).equals(want)).toBe(true);
  });

  it('the slot as hasPendingWrite saw it at open', () => {
    const { io, cipher } = created(f);
    expect(f.files.hasPendingWrite!(io)).toBe(false);
    expect(io.slotEmpty).toBe(true);
    cipher.write(io, 0, bytes(10240)); // recorded
    const again = new MemIO(io.data);
    expect(f.files.hasPendingWrite!(again)).toBe(false); // a finished record
    expect(again.slotEmpty).toBe(false);
  });
});
