// Hostile input: every parser of the eCryptfs formats either returns or throws
// a HomecryptError that names the file; nothing else escapes (no RangeError,
// no crash). Seeded random mutations of real kernel-written inputs, plus the
// named cases: truncated header, wrong marker, unknown flags, oversized packet
// lengths, names that do not decode.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { VECTORS, openVectorVolume } from '../helpers/ecryptfs.js';
import { HomecryptError, CorruptFileError, UnsupportedFormatError } from '../../src/errors.js';
import { parseFileHeader, fileKeyFromHeader } from '../../src/format/ecryptfs/ecryptfs-header.js';
import { decryptFilename } from '../../src/format/ecryptfs/filename.js';
import { parseWrappedPassphrase } from '../../src/format/ecryptfs/wrapped-passphrase.js';
import { parseAuthTok } from '../../src/format/ecryptfs/auth-tok.js';

/** mulberry32: a small seeded PRNG, so a failure reproduces. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(src: Buffer, r: () => number, focus: number): Buffer {
  let b = Buffer.from(src);
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const kind = Math.floor(r() * 5);
    const at = Math.floor(r() * Math.min(b.length, focus));
    if (kind === 0) b[at] = Math.floor(r() * 256);
    else if (kind === 1) b[at] ^= 1 << Math.floor(r() * 8);
    else if (kind === 2) b = b.subarray(0, at);
    else if (kind === 3) b[at] = [0, 0xff, 0xc0, 0xdf, 0xe0, 0x8c, 0xed, 0x46][Math.floor(r() * 8)]!;
    else b = Buffer.concat([b.subarray(0, at), Buffer.alloc(Math.floor(r() * 8), Math.floor(r() * 256)), b.subarray(at)]);
    if (b.length === 0) break;
  }
  return b;
}

function expectClean(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof HomecryptError)) throw new Error(`escaped: ${(err as Error)?.stack ?? String(err)}`, { cause: err });
  }
}

const vol = () => openVectorVolume(join(VECTORS, 'kernel-k16fnek'), readFileSync(join(VECTORS, 'mount-passphrase'), 'utf8'), 16, true);
const aFile = () => {
  const d = join(VECTORS, 'kernel-k16fnek');
  const n = readdirSync(d).find((x) => statSync(join(d, x)).isFile() && statSync(join(d, x)).size > 8192)!;
  return readFileSync(join(d, n)).subarray(0, 4096);
};

describe('named bad inputs give clear errors', () => {
  const good = aFile();
  it('truncated header', () => {
    expect(() => parseFileHeader(good.subarray(0, 20), 'f')).toThrow(/truncated/);
    expect(() => parseFileHeader(good.subarray(0, 40), 'f')).toThrow(CorruptFileError);
  });
  it('wrong marker', () => {
    const b = Buffer.from(good);
    b[12] ^= 0x55;
    expect(() => parseFileHeader(b, 'f')).toThrow(/no eCryptfs marker/);
  });
  it('unknown flags and versions', () => {
    const b = Buffer.from(good);
    b[18] = 0x01;
    expect(() => parseFileHeader(b, 'f')).toThrow(UnsupportedFormatError);
    const v = Buffer.from(good);
    v[16] = 9;
    expect(() => parseFileHeader(v, 'f')).toThrow(/version 9/);
  });
  it('oversized packet lengths', () => {
    const b = Buffer.from(good);
    b[27] = 0xdf;
    b[28] = 0xff; // tag 3 length 8383
    expect(() => parseFileHeader(b, 'f')).toThrow(/runs past/);
    const f = Buffer.from(good);
    f[27] = 0xff;
    expect(() => parseFileHeader(f, 'f')).toThrow(/bad tag 3 packet length/);
  });
  it('names that do not decode', () => {
    const k = vol().keys.fnek!;
    expect(() => decryptFilename('ECRYPTFS_FNEK_ENCRYPTED.', k)).toThrow(/prefix/);
    expect(() => decryptFilename('ECRYPTFS_FNEK_ENCRYPTED.a$b', k)).toThrow(/alphabet/);
    expect(() => decryptFilename('ECRYPTFS_FNEK_ENCRYPTED.FWbMax0FhuIfUkTb1dEDbv7Z2DYFhMMA2HUg', k)).toThrow(CorruptFileError);
  });
});

describe('seeded mutation fuzzing', () => {
  it('file headers (2000 mutants): parse, then unwrap the key', () => {
    const good = aFile();
    const keys = vol().keys.byKeySig;
    const r = rng(0xec0f);
    for (let i = 0; i < 2000; i++) {
      const m = mutate(good, r, 120);
      expectClean(() => fileKeyFromHeader(parseFileHeader(m, `mutant ${i}`), keys, `mutant ${i}`));
    }
  });

  it('encrypted names (3000 mutants)', () => {
    const v = vol();
    const names = readdirSync(join(VECTORS, 'kernel-k16fnek'));
    const r = rng(0x7a70);
    for (let i = 0; i < 3000; i++) {
      const src = Buffer.from(names[i % names.length]!, 'latin1');
      const m = mutate(src, r, src.length).toString('latin1');
      expectClean(() => decryptFilename(m, v.keys.fnek!, `mutant ${i}`));
      expect(v.upperName(m, '/x') === null || typeof v.upperName(m, '/x') === 'string').toBe(true);
    }
  });

  it('wrapped-passphrase files and auth tokens (2000 mutants each)', () => {
    const wp = readFileSync(join(VECTORS, 'wrapped-passphrase-v2'));
    const tok = readFileSync(
      join(
        VECTORS,
        readdirSync(VECTORS).find((n) => n.startsWith('authtok-'))!,
      ),
    );
    const r = rng(0x3a02);
    for (let i = 0; i < 2000; i++) {
      expectClean(() => parseWrappedPassphrase(mutate(wp, r, wp.length), `mutant ${i}`));
      expectClean(() => parseAuthTok(mutate(tok, r, tok.length), `mutant ${i}`));
    }
  });
});
