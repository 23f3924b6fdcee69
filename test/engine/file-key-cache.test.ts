// The content keys of headers already authenticated (src/engine/file-key-cache.ts):
// a file opened again is not unwrapped again, and only a header equal in every
// byte to one that authenticated is served from the cache.
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as fs from 'node:fs';
import { FileKeyCache } from '../../src/engine/file-key-cache.js';
import { homecryptFormat } from '../../src/engine/homecrypt-format.js';
import { MountKeys } from '../../src/engine/mount-keys.js';
import { blockGcm } from '../../src/crypto/gcm-blocks.js';
import { MemIO } from './mem-io.js';

const V = JSON.parse(fs.readFileSync(new URL('../vectors/files/vectors-v2.json', import.meta.url), 'utf8'));
const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const MOUNT_KEY = hex(V.mountKey);
const files = () => homecryptFormat(new MountKeys(MOUNT_KEY, V.keyId), { plaintextNames: false, version: 2 }).files;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('FileKeyCache', () => {
  const header = hex(V.lowerFile).subarray(0, 92);
  const key = { keyId: V.keyId as string, fileId: hex(V.fileId), contentKey: hex(V.contentKey) };

  it('gives the key back only for the very bytes it was given, whatever buffer holds them', () => {
    const c = new FileKeyCache();
    expect(c.get(header)).toBeNull();
    c.set(header, key);
    expect(c.get(Buffer.from(header))?.contentKey.toString('hex')).toBe(V.contentKey);
    // a longer read (header and slot) counts by its first 92 bytes; a shorter one never hits
    expect(c.get(Buffer.concat([header, Buffer.alloc(8, 9)]))).not.toBeNull();
    expect(c.get(header.subarray(0, 91))).toBeNull();
    for (let i = 0; i < 92; i++) {
      const bad = Buffer.from(header);
      bad[i]! ^= 0x40;
      expect(c.get(bad), `byte ${i} changed`).toBeNull();
    }
  });

  it('keeps its own copy of the header (a scratch buffer reused after set changes nothing)', () => {
    const c = new FileKeyCache();
    const scratch = Buffer.from(header);
    c.set(scratch, key);
    scratch[50]! ^= 1;
    expect(c.get(scratch)).toBeNull();
    expect(c.get(header)).not.toBeNull();
  });

  it('keeps no buffer it was given: the file ID and key buffers reused after set change nothing', () => {
    const c = new FileKeyCache();
    const given = { keyId: key.keyId, fileId: Buffer.from(key.fileId), contentKey: Buffer.from(key.contentKey) };
    c.set(header, given);
    given.fileId.fill(0);
    given.contentKey.fill(0); // a caller wiping its copy
    const got = c.get(header)!;
    expect(got.fileId.toString('hex')).toBe(V.fileId);
    expect(got.contentKey.toString('hex')).toBe(V.contentKey);
    expect(got.keyId).toBe(V.keyId);
  });

  it('starts over once full', () => {
    const c = new FileKeyCache(4);
    for (let i = 0; i < 5; i++) {
      const h = Buffer.from(header);
      h[8] = i; // another file ID
      c.set(h, key);
    }
    expect(c.size).toBe(1);
  });
});

describe('opening a file again', () => {
  it('does not unwrap its key again, and reads the same', () => {
    const f = files();
    const open = vi.spyOn(blockGcm(), 'open');
    const first = f.openAtRest!(new MemIO(hex(V.lowerFile)))!;
    expect(open).toHaveBeenCalledTimes(1);
    const io = new MemIO(hex(V.lowerFile));
    const again = f.openAtRest!(io)!;
    expect(open).toHaveBeenCalledTimes(1);
    expect(again.read(io, 0, 1 << 16).toString('hex')).toBe(V.plaintext);
    expect(first.read(new MemIO(hex(V.lowerFile)), 0, 1 << 16).toString('hex')).toBe(V.plaintext);
  });

  it('still fails a header edited after the file was opened (each byte of the wrap, flags and IDs)', () => {
    const f = files();
    f.open(new MemIO(hex(V.lowerFile)));
    for (const at of [6, 8, 23, 24, 31, 32, 43, 44, 75, 91]) {
      const bad = hex(V.lowerFile);
      bad[at]! ^= 1;
      expect(() => f.open(new MemIO(bad)), `byte ${at}`).toThrow(/authentication|flags|not loaded|version|magic/);
    }
  });

  it("serves another file's header only with that file's key and ID, so this file's blocks fail", () => {
    const f = files();
    const other = f.create();
    const otherHeader = other.bytes.subarray(0, 92);
    // the other file is opened once (its header authenticated and kept) …
    const made = Buffer.concat([other.bytes, Buffer.alloc(other.tail!.at - other.bytes.length), other.tail!.bytes]);
    f.open(new MemIO(made));
    // … then its header is put over this file's: the open succeeds (the header is authentic), the read fails
    const swapped = hex(V.lowerFile);
    otherHeader.copy(swapped, 0);
    const io = new MemIO(swapped);
    const c = f.open(io);
    expect(() => c.read(io, 0, 100)).toThrow(/authentication/);
  });
});
