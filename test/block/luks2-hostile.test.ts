// Corrupt and hostile headers: a damaged primary falls back to the secondary
// with a warning; both damaged is a clear error; hostile JSON (huge, deep,
// wrong types, overlapping segments, keyslot areas out of bounds) is refused
// with a reason, and random mutations never get past the parser as anything
// but CorruptFileError / UnsupportedFormatError. A header asking for more KDF
// work than the limits is refused before any of it runs (exit 8), and a data
// segment past the end of the device is a corrupt volume (exit 4).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { hc, tempDir } from './helpers.js';
import { Device } from '../../src/block/device.js';
import { formatVolume, loadHeader } from '../../src/block/luks2-volume.js';
import { writeBinaryHeader, parseBinaryHeader } from '../../src/format/luks2/binary-header.js';
import { CorruptFileError, KdfLimitError, UnsupportedFormatError } from '../../src/errors.js';
import { checkLuks2Work, LUKS2_KDF_LIMITS } from '../../src/block/luks2-kdf-limits.js';
import type { Digest, Keyslot } from '../../src/format/luks2/metadata.js';
import { computeDigest } from '../../src/format/luks2/digest.js';
import { deriveSlotKey } from '../../src/format/luks2/keyslot-area.js';

const tmp = tempDir('hostile');
const base = join(tmp, 'base.img');
const HDR = 16384;
/** The JSON area as parsed, mutated by path below. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped JSON on purpose: the tests write anything into it
type RawJson = Record<string, any>;
let pristine: RawJson;

beforeAll(async () => {
  writeFileSync(base, Buffer.alloc(17 * 1024 * 1024));
  const dev = Device.open(base, true);
  try {
    const { header } = await formatVolume(dev, Buffer.from('hostile-pw'), { kdfSeconds: 0.02 });
    pristine = header.metadata.raw as RawJson;
  } finally {
    dev.close();
  }
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function copyOfBase(): string {
  const p = join(tmp, `v${n++}.img`);
  copyFileSync(base, p);
  return p;
}

/** Writes `jsonText` into both copies with valid checksums (so the JSON rules are what is tested). */
function withJson(img: string, jsonText: string | Buffer, hdrSize = HDR): void {
  const fd = Device.open(img, true);
  try {
    for (const off of [0, hdrSize]) {
      const copy = fd.read(off, hdrSize);
      const b = parseBinaryHeader(copy);
      const area = Buffer.alloc(hdrSize - 4096);
      Buffer.from(jsonText).copy(area, 0, 0, Math.min(area.length, Buffer.byteLength(jsonText)));
      area.copy(copy, 4096);
      writeBinaryHeader(copy, { ...b, hdrSize });
      fd.write(off, copy);
    }
  } finally {
    fd.close();
  }
}

function load(img: string) {
  const dev = Device.open(img, false);
  try {
    return loadHeader(dev);
  } finally {
    dev.close();
  }
}

function expectRefused(mutate: (raw: RawJson) => void, reason: RegExp): void {
  const img = copyOfBase();
  const raw = structuredClone(pristine);
  mutate(raw);
  withJson(img, JSON.stringify(raw));
  let err: unknown;
  try {
    load(img);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CorruptFileError);
  expect((err as Error).message).toMatch(reason);
}

describe('header copies', () => {
  it('falls back to the secondary copy, with a warning, when the primary is corrupt', () => {
    const img = copyOfBase();
    const buf = readFileSync(img);
    buf[5000] ^= 0xff; // inside the primary's JSON area
    writeFileSync(img, buf);
    const loaded = load(img);
    expect(loaded.needsRepair).toBe(true);
    expect(loaded.warnings.join()).toMatch(/primary LUKS2 header checksum mismatch; using the secondary copy/);
    const r = hc(['block', 'header-backup', img, join(tmp, 'fallback.bak')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: .*primary LUKS2 header checksum mismatch/);
  });

  it('finds the secondary when the primary binary header is gone entirely', () => {
    const img = copyOfBase();
    const buf = readFileSync(img);
    buf.fill(0, 0, 4096);
    writeFileSync(img, buf);
    expect(load(img).warnings.join()).toMatch(/primary/);
  });

  it('gives a clear error (exit 4) when both copies are corrupt', () => {
    const img = copyOfBase();
    const buf = readFileSync(img);
    buf[5000] ^= 0xff;
    buf[HDR + 5000] ^= 0xff;
    writeFileSync(img, buf);
    expect(() => load(img)).toThrow(/no valid LUKS2 header: primary: checksum mismatch; secondary: checksum mismatch/);
    const r = hc(['block', 'open', img, 'never'], ['hostile-pw']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/no valid LUKS2 header/);
    expect(r.stderr).not.toMatch(/at .*\.js/); // no stack trace
  });

  it('says plainly when a file is not a LUKS volume at all', () => {
    const img = join(tmp, 'zeros.img');
    writeFileSync(img, Buffer.alloc(1 << 20));
    const r = hc(['block', 'open', img, 'never'], ['x']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/not a LUKS2 volume/);
  });

  it('names a LUKS1 volume as unsupported (exit 5), not as corrupt', () => {
    const img = join(tmp, 'luks1.img');
    writeFileSync(img, Buffer.alloc(4 << 20));
    const f = spawnSync('cryptsetup', ['luksFormat', '--type', 'luks1', '--batch-mode', '--key-file=-', '--pbkdf-force-iterations', '1000', img], {
      input: 'l1',
    });
    expect(f.status, String(f.stderr)).toBe(0);
    expect(() => load(img)).toThrow(UnsupportedFormatError);
    const r = hc(['block', 'open', img, 'never'], ['l1']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/a LUKS1 volume/);
  });

  it('prefers the copy with the higher seqid (an interrupted update)', () => {
    const img = copyOfBase();
    const dev = Device.open(img, true);
    try {
      const sec = dev.read(HDR, HDR);
      const b = parseBinaryHeader(sec);
      writeBinaryHeader(sec, { ...b, seqid: b.seqid + 5n });
      dev.write(HDR, sec);
    } finally {
      dev.close();
    }
    const loaded = load(img);
    expect(loaded.header.binary.kind).toBe('secondary');
    expect(loaded.warnings.join()).toMatch(/primary LUKS2 header older than the secondary/);
  });
});

describe('hostile JSON', () => {
  it('refuses deeply nested JSON before parsing it', () => {
    const img = copyOfBase();
    withJson(img, `${'['.repeat(5000)}${']'.repeat(5000)}`);
    expect(() => load(img)).toThrow(/nested deeper than/);
  });
  it('refuses a JSON area with no terminator, filled to the brim', () => {
    const img = copyOfBase();
    withJson(img, Buffer.alloc(HDR - 4096, 0x20));
    expect(() => load(img)).toThrow(/not NUL-terminated/);
  });
  it('refuses huge strings and too many entries', () => {
    expectRefused((r) => {
      r.keyslots['0'].kdf.salt = 'A'.repeat(10000);
    }, /too long/);
    expectRefused((r) => {
      for (let i = 0; i < 40; i++) r.tokens[String(i)] = {};
    }, /more than 32/);
  });
  it('refuses a header claiming a size the file does not have', () => {
    const img = join(tmp, 'short.img');
    const buf = readFileSync(base).subarray(0, 8192);
    buf.writeBigUInt64BE(4n * 1024n * 1024n, 8); // hdr_size 4 MiB
    writeFileSync(img, buf);
    expect(() => load(img)).toThrow(CorruptFileError);
  });
  it('refuses wrong types', () => {
    expectRefused((r) => {
      r.keyslots['0'].key_size = '64';
    }, /keyslots\.0\.key_size must be an integer/);
    expectRefused((r) => {
      r.segments['0'].offset = 16777216;
    }, /segments\.0\.offset must be a decimal string/);
    expectRefused((r) => {
      r.digests['0'].keyslots = '0';
    }, /digests\.0\.keyslots must be an array/);
    expectRefused((r) => {
      r.config = [];
    }, /config must be an object/);
    expectRefused((r) => {
      r.keyslots['0'].kdf.time = 1.5;
    }, /must be an integer/);
    expectRefused((r) => {
      r.keyslots['0'].kdf.salt = '!!!';
    }, /not base64/);
  });
  it('refuses overlapping segments and segments over the metadata', () => {
    expectRefused((r) => {
      r.segments['0'].size = String(4 * 1024 * 1024);
      r.segments['1'] = { ...r.segments['0'], offset: String(18 * 1024 * 1024) };
    }, /segments\.1 overlaps segments\.0/);
    expectRefused((r) => {
      r.segments['0'].offset = '65536';
    }, /overlaps the header or keyslots area/);
  });
  it('refuses keyslot areas out of bounds or overlapping', () => {
    expectRefused((r) => {
      r.keyslots['0'].area.offset = '16777216';
    }, /outside the keyslots area/);
    expectRefused((r) => {
      r.keyslots['0'].area.offset = '4096';
    }, /outside the keyslots area/);
    expectRefused((r) => {
      r.keyslots['0'].area.size = '99999999999';
    }, /outside the keyslots area/);
    expectRefused((r) => {
      r.keyslots['1'] = structuredClone(r.keyslots['0']);
      r.keyslots['1'].area.offset = String(Number(r.keyslots['0'].area.offset) + 4096);
    }, /keyslots\.1\.area overlaps keyslots\.0\.area/);
    expectRefused((r) => {
      r.keyslots['0'].area.size = '4096';
    }, /smaller than its key material/);
  });
  it('refuses inconsistent references and sizes', () => {
    expectRefused((r) => {
      r.digests['0'].keyslots = ['7'];
    }, /names missing keyslot '7'/);
    expectRefused((r) => {
      r.config.json_size = '4096';
    }, /json_size 4096 does not match/);
    expectRefused((r) => {
      r.keyslots['0'].kdf.type = 'scrypt';
    }, /unsupported keyslots\.0\.kdf\.type/);
    expectRefused((r) => {
      r.config.requirements = { mandatory: ['online-reencrypt-v2'] };
    }, /requires features this build lacks/);
  });

  it('survives random mutations: every outcome is a parse or a clear error', () => {
    const text = JSON.stringify(pristine);
    const values: unknown[] = [null, true, 0, -1, 1e308, '', 'x', '99999999999999999999', [], {}, [[[[]]]], { a: { b: {} } }];
    const paths: string[][] = [];
    const walk = (o: unknown, p: string[]) => {
      if (o && typeof o === 'object')
        for (const k of Object.keys(o)) {
          paths.push([...p, k]);
          walk((o as RawJson)[k], [...p, k]);
        }
    };
    walk(pristine, []);
    const img = copyOfBase();
    let clean = 0;
    let refused = 0;
    for (let i = 0; i < 400; i++) {
      let mutated: string;
      if (i % 2 === 0) {
        const raw = structuredClone(pristine);
        const p = paths[Math.floor(Math.random() * paths.length)];
        let o: RawJson = raw;
        for (const k of p.slice(0, -1)) o = o[k];
        if (Math.random() < 0.2) delete o[p[p.length - 1]];
        else o[p[p.length - 1]] = values[Math.floor(Math.random() * values.length)];
        mutated = JSON.stringify(raw);
      } else {
        const b = Buffer.from(text);
        for (let k = 0; k < 1 + (i % 5); k++) b[Math.floor(Math.random() * b.length)] = Math.floor(Math.random() * 256);
        mutated = b.toString('latin1');
      }
      withJson(img, mutated);
      try {
        load(img);
        clean++;
      } catch (e) {
        if (!(e instanceof CorruptFileError || e instanceof UnsupportedFormatError)) throw e;
        expect((e as Error).message.length).toBeLessThan(400);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(100);
    expect(clean + refused).toBe(400);
  });
});

/** A copy of the base volume whose JSON `mutate` changed (valid checksums, so only the rules decide). */
function hostileImage(mutate: (raw: RawJson) => void): string {
  const img = copyOfBase();
  const raw = structuredClone(pristine);
  mutate(raw);
  withJson(img, JSON.stringify(raw));
  return img;
}

const stateEnv = () => ({ HOMECRYPT_BLOCK_STATE_DIR: join(tmp, 'state') });

/** `block open` on a hostile image: refused fast, with a clear message, never exit 70. */
function openRefused(img: string, code: number, message: RegExp): void {
  const t0 = Date.now();
  const r = hc(['block', 'open', img, 'never', '--backend', 'userspace'], ['hostile-pw'], stateEnv());
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/internal error|at .*\.js/);
  // nothing of the KDF ran: at 2^31 PBKDF2 iterations that alone takes minutes
  expect(Date.now() - t0).toBeLessThan(15_000);
}

const pbkdf2Kdf = (iterations: number) => ({ type: 'pbkdf2', hash: 'sha256', iterations, salt: Buffer.alloc(32, 7).toString('base64') });

describe('work limits: keyslot KDF and digest cost', () => {
  it('refuses a digest of 2^31-1 or 2^32-1 iterations without computing it (exit 8, not a hang or exit 70)', () => {
    openRefused(
      hostileImage((r) => {
        r.digests['0'].iterations = 2 ** 31 - 1;
      }),
      8,
      /refused without trying the passphrase: digest 0 asks for 2147483647 pbkdf2-sha256 iterations, beyond the limit of 10000000/,
    );
    openRefused(
      hostileImage((r) => {
        r.digests['0'].iterations = 2 ** 32 - 1;
      }),
      8,
      /digest 0 asks for 4294967295/,
    );
  });

  it('refuses a PBKDF2 keyslot of 2^32-1 iterations and an Argon2 keyslot of 4 GiB × 2^24 passes', () => {
    openRefused(
      hostileImage((r) => {
        r.keyslots['0'].kdf = pbkdf2Kdf(2 ** 32 - 1);
      }),
      8,
      /keyslot 0: pbkdf2-sha256 × 4294967295 iterations, beyond the limit of 100000000 for one keyslot/,
    );
    openRefused(
      hostileImage((r) => {
        Object.assign(r.keyslots['0'].kdf, { memory: 4 * 1024 * 1024, time: 2 ** 24, cpus: 16 });
      }),
      8,
      /keyslot 0: argon2id 4096 MiB × 16777216 passes .* beyond the limit of 64 GiB·passes for one keyslot/,
    );
  });

  it('checks the limits in the other commands that try a passphrase (add-passphrase, rewrap)', () => {
    const img = hostileImage((r) => {
      r.digests['0'].iterations = 2 ** 31 - 1;
    });
    for (const [args, secrets] of [
      [
        ['block', 'add-passphrase', img],
        ['hostile-pw', 'n', 'n'],
      ],
      [
        ['block', 'rewrap', img],
        ['hostile-pw', 'n', 'n'],
      ],
    ] as const) {
      const r = hc([...args], [...secrets], stateEnv());
      expect(r.code, `${args[1]}: ${r.stderr}`).toBe(8);
      expect(r.stderr).toMatch(/refused without trying the passphrase/);
    }
  });

  it('a data segment past the end of the device is a corrupt volume (exit 4), not an internal error', () => {
    openRefused(
      hostileImage((r) => {
        r.segments['0'].offset = String(2 ** 32);
      }),
      4,
      /data segment lies outside the device \(truncated image\?\): it starts at byte 4294967296, the device has 17825792 bytes/,
    );
    openRefused(
      hostileImage((r) => {
        r.segments['0'].size = String(64 * 1024 * 1024);
      }),
      4,
      /data segment lies outside the device \(truncated image\?\)/,
    );
  });

  it('beyond 2^31-1 PBKDF2 iterations (what Node computes) the KDF itself refuses, never a RangeError', async () => {
    await expect(computeDigest(Buffer.alloc(32), 'sha256', Buffer.alloc(32), 2 ** 31, 32)).rejects.toThrow(KdfLimitError);
    await expect(deriveSlotKey({ type: 'pbkdf2', hash: 'sha256', iterations: 2 ** 32 - 1, salt: Buffer.alloc(32) }, Buffer.from('x'), 64)).rejects.toThrow(
      /more than this build computes/,
    );
  });

  const slot = (id: string, kdf: Keyslot['kdf']): Keyslot => ({
    id,
    type: 'luks2',
    keySize: 64,
    afStripes: 4000,
    afHash: 'sha256',
    area: { offset: 0, size: 0, encryption: 'aes-xts-plain64', keySize: 64 },
    kdf,
    priority: 1,
  });
  const argon = (memory: number, time: number) => ({ type: 'argon2id' as const, memory, time, cpus: 4, salt: Buffer.alloc(32) });
  const digest = (ids: string[], iterations: number): Digest => ({
    id: '0',
    keyslots: ids,
    segments: ['0'],
    hash: 'sha256',
    iterations,
    salt: Buffer.alloc(32),
    digest: Buffer.alloc(32),
  });
  const GIB = 1024 * 1024;
  const RAM = 8 * GIB;

  it('accepts what cryptsetup writes, up to 4 GiB of memory, and 32 keyslots of its defaults', () => {
    // cryptsetup's defaults: argon2id, 4-10 passes over up to 1 GiB, 4 lanes; pbkdf2 benchmarked to 2 s; the digest to 125 ms
    expect(() => checkLuks2Work('v', [slot('0', argon(GIB, 10))], [digest(['0'], 1_000_000)], RAM)).not.toThrow();
    expect(() => checkLuks2Work('v', [slot('0', { type: 'pbkdf2', hash: 'sha256', iterations: 10_000_000, salt: Buffer.alloc(32) })], [], RAM)).not.toThrow();
    expect(() => checkLuks2Work('v', [slot('0', argon(4 * GIB, 16))], [digest(['0'], LUKS2_KDF_LIMITS.digestIterations)], RAM)).not.toThrow();
    const ids = Array.from({ length: 32 }, (_, i) => String(i));
    expect(() =>
      checkLuks2Work(
        'v',
        ids.map((id) => slot(id, argon(GIB, 4))),
        [digest(ids, 1_250_000)],
        RAM,
      ),
    ).not.toThrow();
  });

  it('refuses beyond one keyslot’s limit, beyond this machine’s memory, and many keyslots together', () => {
    const refused = (slots: Keyslot[], digests: Digest[], re: RegExp, ram = RAM) => {
      let err: unknown;
      try {
        checkLuks2Work('v.img', slots, digests, ram);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KdfLimitError);
      expect((err as Error).message).toMatch(re);
    };
    refused([slot('0', argon(4 * GIB, 17))], [], /68 GiB·passes\), beyond the limit of 64/);
    refused([slot('0', argon(4 * GIB + 1024, 1))], [], /more than the 4 GiB LUKS2 allows/);
    refused([slot('0', argon(2 * GIB, 4))], [], /more memory than this machine has \(1024 MiB\)/, GIB);
    refused([slot('0', argon(GIB, 64)), slot('1', argon(GIB, 64)), slot('2', argon(GIB, 1))], [], /3 keyslots together ask for 2\.0 times/);
    refused([slot('0', { type: 'pbkdf2', hash: 'sha1', iterations: 100_000_001, salt: Buffer.alloc(32) })], [], /beyond the limit of 100000000/);
    const ids = Array.from({ length: 5 }, (_, i) => String(i));
    refused(
      ids.map((id) => slot(id, argon(GIB, 4))),
      [digest(ids, 9_000_000)],
      /45000000 digest iterations, beyond the limit of 40000000/,
    );
  });
});
