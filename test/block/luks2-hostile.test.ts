// Corrupt and hostile headers: a damaged primary falls back to the secondary
// with a warning; both damaged is a clear error; hostile JSON (huge, deep,
// wrong types, overlapping segments, keyslot areas out of bounds) is refused
// with a reason, and random mutations never get past the parser as anything
// but CorruptFileError / UnsupportedFormatError.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { hc, tempDir } from './helpers.js';
import { Device } from '../../src/block/device.js';
import { formatVolume, loadHeader } from '../../src/block/luks2-volume.js';
import { writeBinaryHeader, parseBinaryHeader } from '../../src/format/luks2/binary-header.js';
import { CorruptFileError, UnsupportedFormatError } from '../../src/errors.js';

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
