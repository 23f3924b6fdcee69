// eCryptfs names that are not UTF-8 (old Latin-1 names: Linux names are
// bytes), in both filename modes: an eCryptfs lower written by homecrypt's
// kernel-exact tree writer is read back by the tree walk, served by
// `homecrypt ecryptfs mount` and migrated by the copy step of `ecryptfs
// migrate` into a homecrypt volume, and every view lists the very same name
// bytes, read through Python's byte listing (not Node's decoding, nor
// homecrypt's own), with the same contents and symlink targets. Encrypted
// lower names are the kernel's: its tag 70 encryption of the raw bytes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { BIN, lowerManifest, openVectorVolume, plainManifest } from '../helpers/ecryptfs.js';
import { PASS as HC_PASS, makeVolume, type TestVolume } from '../engine/volume-helper.js';
import { walkLower, writePlainTree } from '../../src/ecryptfs/tree.js';
import { detectLayout } from '../../src/ecryptfs/detect-layout.js';
import { copyAll } from '../../src/ecryptfs/migrate-copy.js';
import { decryptFilename, encryptFilename } from '../../src/format/ecryptfs/filename.js';
import { bytesOfName, nameFromBytes } from '../../src/format/name-bytes.js';
import { unwrapKeyStore } from '../../src/keys/key-store.js';
import { DEFAULT_KEYSTORE_NAME } from '../../src/format/volume-config.js';

const PASS = 'eCryptfs byte names mount pass';
const b = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

const NAMES: Buffer[] = [
  b([0xe9]), // Latin-1 é
  b([0xff]),
  b([0xc3]), // the first byte of a two-byte sequence, alone
  b('caf', [0xc3, 0xa9], '-', [0xe9], '-ok'), // valid é, then Latin-1 é
];
const DIR = b('r', [0xe9], 'pertoire'); // a directory so named, holding NAMES[1]
const LINK = b('lien-', [0xff]); // a symlink so named, whose target is d/<0xe9>
const TARGET = b('d/', [0xe9]);

/** `dir/name…` as bytes. */
const at = (dir: string | Buffer, ...names: Buffer[]) => Buffer.concat([Buffer.from(dir), ...names.flatMap((n) => [Buffer.from('/'), n])]);

/** The names in `dir` as hex, sorted, read by Python as bytes. */
const listed = (dir: Buffer | string) =>
  execFileSync(
    'python3',
    ['-c', 'import os, sys\nprint(" ".join(sorted(n.hex() for n in os.listdir(bytes.fromhex(sys.argv[1])))))', Buffer.from(dir).toString('hex')],
    {
      encoding: 'utf8',
    },
  )
    .trim()
    .split(' ')
    .filter(Boolean);
const hexes = (names: Buffer[]) => names.map((n) => n.toString('hex')).sort();

/** The plaintext tree: `d/` holding every name (its content: the name), DIR/NAMES[1], LINK → TARGET. */
function makePlain(root: string): void {
  fs.mkdirSync(root);
  fs.mkdirSync(at(root, b('d')));
  for (const n of NAMES) fs.writeFileSync(at(root, b('d'), n), n);
  fs.mkdirSync(at(root, DIR));
  fs.writeFileSync(at(root, DIR, NAMES[1]!), 'in a directory whose name is not UTF-8\n');
  fs.symlinkSync(TARGET, at(root, LINK));
}

/** What a mount of the tree shows, each check through byte paths. */
function expectTree(mnt: string): void {
  expect(listed(mnt)).toEqual(hexes([b('d'), DIR, LINK]));
  expect(listed(at(mnt, b('d')))).toEqual(hexes(NAMES));
  for (const n of NAMES) {
    expect(fs.statSync(at(mnt, b('d'), n)).size).toBe(n.length);
    expect(fs.readFileSync(at(mnt, b('d'), n)).equals(n)).toBe(true);
  }
  expect(listed(at(mnt, DIR))).toEqual(hexes([NAMES[1]!]));
  expect(fs.readFileSync(at(mnt, DIR, NAMES[1]!), 'utf8')).toBe('in a directory whose name is not UTF-8\n');
  expect(fs.readlinkSync(at(mnt, LINK), { encoding: 'buffer' }).equals(TARGET)).toBe(true);
  expect(fs.readFileSync(at(mnt, LINK)).equals(NAMES[0]!)).toBe(true); // followed by the kernel
}

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'eCryptfs names that are not UTF-8'))('eCryptfs names that are not UTF-8', () => {
  for (const fnek of [true, false]) {
    describe(fnek ? 'with encrypted names (FNEK)' : 'with plaintext names', () => {
      // one small loop-mounted ext4 holds the eCryptfs lower and the homecrypt volume migrated into
      let v: TestVolume;
      let plain: string, lower: string, mnt: string;
      const vol = () => openVectorVolume(lower, PASS, 16, fnek);
      beforeAll(() => {
        v = makeVolume({ loopMiB: 32 });
        plain = join(v.dir, 'plain');
        lower = join(dirname(v.lower), 'ecryptfs');
        mnt = join(v.dir, 'ecryptfs-mnt');
        makePlain(plain);
        fs.mkdirSync(lower);
        fs.mkdirSync(mnt);
        writePlainTree(vol(), plain);
      });
      afterAll(() => {
        spawnSync('fusermount', ['-u', '-z', mnt]);
        v.cleanup();
      });

      it("the tree writer lays out the kernel's lower names, and the tree walk reads every name back byte-exact", () => {
        const top = fs.readdirSync(lower, { encoding: 'buffer' });
        const inD = fs.readdirSync(at(lower, Buffer.from(vol().lowerName('d'))), { encoding: 'buffer' });
        if (fnek) {
          // the kernel encrypts the raw bytes (tag 70, deterministic): these are its names
          const fnekKey = vol().keys.fnek!;
          expect(inD.map((n) => n.toString()).sort()).toEqual(NAMES.map((n) => encryptFilename(n, fnekKey)).sort());
          for (const n of inD) expect(NAMES.some((p) => p.equals(decryptFilename(n.toString(), fnekKey, 'test')))).toBe(true);
          expect(top.map((n) => n.toString()).sort()).toEqual([b('d'), DIR, LINK].map((n) => encryptFilename(n, fnekKey)).sort());
          const linkTarget = fs.readlinkSync(at(lower, Buffer.from(encryptFilename(LINK, fnekKey))), 'utf8');
          expect(linkTarget).toBe(encryptFilename(TARGET, fnekKey));
        } else {
          expect(hexes(inD)).toEqual(hexes(NAMES));
          expect(hexes(top)).toEqual(hexes([b('d'), DIR, LINK]));
          expect(fs.readlinkSync(at(lower, LINK), { encoding: 'buffer' }).equals(TARGET)).toBe(true);
        }
        const entries = [...walkLower(vol())];
        expect(hexes(entries.map((e) => bytesOfName(e.path)))).toEqual(hexes([b('d'), ...NAMES.map((n) => at('d', n)), DIR, at(DIR, NAMES[1]!), LINK]));
        const link = entries.find((e) => e.type === 'l')!;
        expect(link.type === 'l' && bytesOfName(link.target).equals(TARGET)).toBe(true);
        // contents and targets, compared as manifests of the plaintext
        expect(lowerManifest(vol())).toBe(plainManifest(plain));
        expect(detectLayout(lower).encryptedNames).toBe(fnek);
      });

      it("`homecrypt ecryptfs mount` lists, stats and reads them byte-exact, and a name written through it gets the kernel's lower name", () => {
        const r = spawnSync(BIN, ['ecryptfs', 'mount', lower, mnt, '--passphrase-fd', '0', '--log-file', join(v.dir, `ecryptfs-${fnek}.log`)], {
          input: `${PASS}\n`,
          encoding: 'utf8',
        });
        expect(r.status, r.stderr).toBe(0);
        const made = b('neu-', [0xfe], '-', [0xc3]);
        try {
          expectTree(mnt);
          // a name that differs only in its bytes is another name
          expect(fs.existsSync(at(mnt, b('d'), b([0xfe])))).toBe(false);
          fs.writeFileSync(at(mnt, b('d'), made), 'made through the mount\n');
          expect(fs.readFileSync(at(mnt, b('d'), made), 'utf8')).toBe('made through the mount\n');
          // the limit counts bytes (143 encrypted, 255 plaintext), not the UTF-8 of U+FFFD or of an escape
          const longest = fnek ? 143 : 255;
          const long = b('n'.repeat(100), Array(longest - 100).fill(0xff));
          fs.writeFileSync(at(mnt, long), 'x');
          expect(listed(mnt)).toContain(long.toString('hex'));
          fs.unlinkSync(at(mnt, long));
          const tooLong = b('n'.repeat(100), Array(longest - 99).fill(0xff));
          expect(() => fs.writeFileSync(at(mnt, tooLong), 'x')).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
        } finally {
          execFileSync(BIN, ['ecryptfs', 'umount', mnt]);
        }
        const want = fnek ? Buffer.from(encryptFilename(made, vol().keys.fnek!)) : made;
        const lowerD = at(lower, Buffer.from(vol().lowerName('d')));
        expect(listed(lowerD)).toContain(want.toString('hex'));
        // the volume maps the name's string form to that very lower name, and opens it
        const upper = `/d/${nameFromBytes(made)}`;
        expect(bytesOfName(vol().lowerPath(upper)).equals(at(lower, Buffer.from(vol().lowerName('d')), want))).toBe(true);
        const f = vol().openFile(vol().lowerPath(upper), false);
        try {
          expect(f.readAll().toString()).toBe('made through the mount\n');
        } finally {
          f.close();
        }
        fs.unlinkSync(at(lowerD, want));
      });

      it('the migration copy makes a homecrypt volume whose mount lists the same bytes and contents (and a second run keeps them)', async () => {
        const key = async () => ({ mountKey: (await unwrapKeyStore(join(v.lower, DEFAULT_KEYSTORE_NAME), Buffer.from(HC_PASS))).mountKey });
        const first = copyAll(vol(), v.lower, {}, await key());
        expect(first.entries).toBe(NAMES.length + 4); // d, DIR, DIR/x, LINK
        // resuming: every file is found present with the right content, nothing is lost or renamed
        const again = copyAll(vol(), v.lower, {}, await key());
        expect(again).toEqual(first);
        v.mount();
        try {
          expectTree(v.mnt);
          expect(plainManifest(v.mnt)).toBe(plainManifest(plain));
        } finally {
          v.umount();
        }
      });
    });
  }
});
