// homecrypt and cryptsetup on the same volumes (image files; this host has no
// device-mapper, so cryptsetup checks headers and keyslots, and homecrypt's
// userspace engine serves the data): each accepts what the other wrote.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closeAll, cryptsetup, hc, sh, tempDir, testPassphrase } from './helpers.js';
import { skipUnless } from '../helpers/requirements.js';
import { deviceMapperPresent } from '../../src/block/dmcrypt-backend.js';
import { statSync } from 'node:fs';

const tmp = tempDir('interop');
const env = { HOMECRYPT_BLOCK_STATE_DIR: join(tmp, 'state') };
const KDF = ['--kdf-time', '0.05'];
const LIGHT = ['--pbkdf', 'argon2id', '--pbkdf-force-iterations', '4', '--pbkdf-memory', '8192', '--pbkdf-parallel', '1'];
afterAll(() => {
  closeAll(env);
  rmSync(tmp, { recursive: true, force: true });
});

function image(name: string, mib = 48): string {
  const p = join(tmp, name);
  writeFileSync(p, '');
  sh(`truncate -s ${mib}M '${p}'`);
  return p;
}

describe('cryptsetup accepts volumes homecrypt formatted', () => {
  const img = image('hc.img');

  it('luksDump and --test-passphrase accept a fresh volume; a wrong passphrase fails in both', () => {
    const f = hc(['block', 'format', img, ...KDF], ['first pass'], env);
    expect(f.code, f.stderr).toBe(0);
    const uuid = /UUID (\S+)/.exec(f.stdout)![1];
    const dump = cryptsetup(['luksDump', img]);
    expect(dump.code, dump.out).toBe(0);
    expect(dump.out).toMatch(/Version:\s+2/);
    expect(dump.out).toContain(uuid);
    expect(dump.out).toMatch(/cipher: aes-xts-plain64/);
    expect(dump.out).toMatch(/sector: 4096 \[bytes\]/);
    expect(dump.out).toMatch(/PBKDF:\s+argon2id/);
    expect(testPassphrase(img, 'first pass')).toBe(0);
    expect(testPassphrase(img, 'wrong')).not.toBe(0);
    const w = hc(['block', 'add-passphrase', img, ...KDF], ['wrong', 'x', 'x'], env);
    expect(w.code).toBe(3);
    expect(w.stderr).toMatch(/no keyslot opens with this passphrase/);
  });

  it('also after add-passphrase, add-recovery and rewrap', () => {
    const a = hc(['block', 'add-passphrase', img, ...KDF], ['first pass', 'second pass', 'second pass'], env);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/added keyslot 1/);
    expect(testPassphrase(img, 'first pass')).toBe(0);
    expect(testPassphrase(img, 'second pass')).toBe(0);

    const r = hc(['block', 'add-recovery', img, ...KDF], ['second pass'], env);
    expect(r.code, r.stderr).toBe(0);
    const recovery = /^\s+([0-9A-Z]{5}(?:-[0-9A-Z]{5}){7})$/m.exec(r.stdout)![1];
    expect(testPassphrase(img, recovery)).toBe(0);

    const w = hc(['block', 'rewrap', img, ...KDF], ['first pass', 'third pass', 'third pass'], env);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toMatch(/keyslot 0: passphrase changed/);
    expect(testPassphrase(img, 'first pass')).not.toBe(0);
    expect(testPassphrase(img, 'third pass')).toBe(0);
    expect(testPassphrase(img, 'second pass')).toBe(0);
    const dump = cryptsetup(['luksDump', img]);
    expect(dump.code).toBe(0);
    expect(dump.out.match(/^\s+\d+: luks2$/gm)).toHaveLength(3);

    // a rewrap with a mistyped recovery key names the group
    const typo = recovery.slice(0, 7) + (recovery[7] === 'A' ? 'B' : 'A') + recovery.slice(8);
    const t = hc(['block', 'rewrap', img, ...KDF], [typo, 'x', 'x'], env);
    expect(t.code).toBe(3);
    expect(t.stderr).toMatch(/group 2/);
    // and in lower case, without dashes, it opens
    const l = hc(['block', 'rewrap', img, ...KDF], [recovery.replace(/-/g, ' ').toLowerCase(), 'fourth pass', 'fourth pass'], env);
    expect(l.code, l.stderr).toBe(0);
  });

  it("remove-slot revokes a passphrase, needs another slot's passphrase, and keeps the last slot", () => {
    const vol = image('remove.img', 20);
    expect(hc(['block', 'format', vol, ...KDF], ['keep me'], env).code).toBe(0);
    expect(hc(['block', 'add-passphrase', vol, ...KDF], ['keep me', 'lost one', 'lost one'], env).code).toBe(0);
    const self = hc(['block', 'remove-slot', vol, '1'], ['lost one'], env);
    expect(self.code).toBe(3); // its own passphrase does not count
    const r = hc(['block', 'remove-slot', vol, '1'], ['keep me'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(testPassphrase(vol, 'lost one')).not.toBe(0);
    expect(testPassphrase(vol, 'keep me')).toBe(0);
    expect(cryptsetup(['luksDump', vol]).out.match(/^\s+\d+: luks2$/gm)).toHaveLength(1);
    const last = hc(['block', 'remove-slot', vol, '0'], ['keep me'], env);
    expect(last.code).toBe(8);
    expect(last.stderr).toMatch(/last keyslot/);
  });

  it('homecrypt opens a keyslot cryptsetup added (luksAddKey)', () => {
    const keyfile = join(tmp, 'old.key');
    writeFileSync(keyfile, 'third pass', { mode: 0o600 });
    const add = cryptsetup(['luksAddKey', '--key-file', keyfile, ...LIGHT, img, '-'], 'added by cryptsetup');
    expect(add.code, add.out).toBe(0);
    const r = hc(['block', 'add-passphrase', img, ...KDF], ['added by cryptsetup', 'fifth', 'fifth'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(testPassphrase(img, 'fifth')).toBe(0);
  });

  it('header-backup is byte-identical to luksHeaderBackup, and header-restore brings a wiped header back', () => {
    const ours = join(tmp, 'ours.hdr');
    const theirs = join(tmp, 'theirs.hdr');
    expect(hc(['block', 'header-backup', img, ours], [], env).code).toBe(0);
    expect(cryptsetup(['luksHeaderBackup', img, '--header-backup-file', theirs]).code).toBe(0);
    expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);
    sh(`dd if=/dev/zero of='${img}' bs=1M count=16 conv=notrunc status=none`);
    expect(testPassphrase(img, 'fifth')).not.toBe(0);
    const r = hc(['block', 'header-restore', img, ours], [], env);
    expect(r.code, r.stderr).toBe(0);
    expect(testPassphrase(img, 'fifth')).toBe(0);
    // a backup of another volume is refused without --force
    const other = image('other.img', 20);
    expect(hc(['block', 'format', other, ...KDF], ['o'], env).code).toBe(0);
    const x = hc(['block', 'header-restore', other, ours], [], env);
    expect(x.code).toBe(8);
    expect(x.stderr).toMatch(/another LUKS2 volume/);
  });

  it('block crypttab writes crypttab and fstab lines for a target root, idempotently', () => {
    const root = join(tmp, 'target');
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'etc/fstab'), '# static\nproc /proc proc defaults 0 0\n');
    for (let i = 0; i < 2; i++) {
      const r = hc(['block', 'crypttab', img, 'cryptroot', '--target', root, '--mount', '/'], [], env);
      expect(r.code, r.stderr).toBe(0);
    }
    const uuid = /UUID:\s+(\S+)/.exec(cryptsetup(['luksDump', img]).out)![1];
    expect(readFileSync(join(root, 'etc/crypttab'), 'utf8')).toBe(`cryptroot UUID=${uuid} none luks,discard\n`);
    expect(readFileSync(join(root, 'etc/fstab'), 'utf8')).toBe('# static\nproc /proc proc defaults 0 0\n/dev/mapper/cryptroot / ext4 defaults 0 1\n');
  });
});

describe('volumes cryptsetup formats with its default KDF costs are within the work limits', () => {
  // cryptsetup benchmarks here: argon2id to 2 s (up to 1 GiB), or pbkdf2 to 2 s;
  // a wrong passphrase must be tried (exit 3), not refused (exit 8)
  for (const pbkdf of ['argon2id', 'pbkdf2']) {
    it(`${pbkdf} at cryptsetup's default --iter-time`, () => {
      const img = image(`default-${pbkdf}.img`, 24);
      const f = cryptsetup(['luksFormat', '--type', 'luks2', '--batch-mode', '--key-file=-', '--pbkdf', pbkdf, img], 'default pass');
      expect(f.code, f.out).toBe(0);
      const r = hc(['block', 'open', img, 'defaults', '--backend', 'userspace'], ['not the passphrase'], env);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/no keyslot opens with this passphrase/);
    });
  }
});

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'block userspace engine'))('the userspace engine opens volumes cryptsetup formatted', () => {
  it('files written through it read back after close and reopen; status and close work', () => {
    const img = image('cs.img', 64);
    const mnt = join(tmp, 'mnt');
    const f = cryptsetup(['luksFormat', '--type', 'luks2', '--batch-mode', '--key-file=-', ...LIGHT, img], 'cs pass');
    expect(f.code, f.out).toBe(0);
    expect(hc(['block', 'open', img, 'csfmt', '--backend', 'userspace'], ['wrong'], env).code).toBe(3);
    const o = hc(['block', 'open', img, 'csfmt', '--backend', 'userspace'], ['cs pass'], env);
    expect(o.code, o.stderr).toBe(0);
    const dev = /(\/dev\/loop\d+)/.exec(o.stdout)![1];
    sh(`mkfs.ext4 -q -F ${dev}`);
    expect(hc(['block', 'close', 'csfmt'], [], env).code).toBe(0);

    const o2 = hc(['block', 'open', img, 'csfmt', '--mount', mnt, '--backend', 'userspace'], ['cs pass'], env);
    expect(o2.code, o2.stderr).toBe(0);
    sh(`head -c 3000000 /dev/urandom > '${mnt}/random.bin' && echo hello > '${mnt}/hello.txt' && mkdir '${mnt}/d' && ln -s ../hello.txt '${mnt}/d/link'`);
    const sum = sh(`sha256sum < '${mnt}/random.bin'`);
    const st = hc(['block', 'status', '--json'], [], env);
    const status = JSON.parse(st.stdout);
    expect(status).toHaveLength(1);
    expect(status[0]).toMatchObject({ name: 'csfmt', state: 'open', backend: 'userspace', source: img, mountpoint: mnt });
    expect(readFileSync(`/proc/${status[0].pid}/cmdline`, 'utf8')).toContain('engine-main.js');
    // a second open of the same image is refused
    const again = hc(['block', 'open', img, 'other'], ['cs pass'], env);
    expect(again.code).toBe(8);
    expect(again.stderr).toMatch(/already open as 'csfmt'/);
    expect(hc(['block', 'close', 'csfmt'], [], env).code).toBe(0);
    expect(sh(`grep -c '${mnt}' /proc/mounts || true`).trim()).toBe('0');
    expect(existsSync(status[0].fuseDir)).toBe(false);
    expect(JSON.parse(hc(['block', 'status', '--json'], [], env).stdout)).toEqual([]);

    const o3 = hc(['block', 'open', img, 'csfmt', '--mount', mnt], ['cs pass'], env);
    expect(o3.code, o3.stderr).toBe(0);
    expect(sh(`sha256sum < '${mnt}/random.bin'`)).toBe(sum);
    expect(readFileSync(join(mnt, 'd/link'), 'utf8')).toBe('hello\n');
    expect(hc(['block', 'close', 'csfmt'], [], env).code).toBe(0);
    expect(cryptsetup(['luksDump', img]).code).toBe(0);
  });

  it('format --wipe shows progress and leaves no plaintext zeros; a damaged primary header is repaired on open', () => {
    const img = image('wipe.img', 24);
    const f = hc(['block', 'format', img, '--wipe', '--kdf-time', '0.05'], ['wipe pass'], env);
    expect(f.code, f.stderr).toBe(0);
    expect(f.stderr).toMatch(/Wiping: 100%/);
    const data = readFileSync(img).subarray(16 << 20);
    expect(data.length).toBe(8 << 20);
    expect(data.subarray(0, 1 << 20).equals(Buffer.alloc(1 << 20))).toBe(false);

    const buf = readFileSync(img);
    buf[6000] ^= 0x55; // the primary's JSON area
    writeFileSync(img, buf);
    const o = hc(['block', 'open', img, 'wiped', '--backend', 'userspace'], ['wipe pass'], env);
    expect(o.code, o.stderr).toBe(0);
    expect(o.stderr).toMatch(/warning: .*primary LUKS2 header checksum mismatch; using the secondary copy/);
    expect(o.stderr).toMatch(/rewrote both LUKS2 header copies/);
    expect(hc(['block', 'close', 'wiped'], [], env).code).toBe(0);
    const again = hc(['block', 'header-backup', img, join(tmp, 'wiped.hdr')], [], env);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toMatch(/warning/);
    expect(cryptsetup(['luksDump', img]).code).toBe(0);
  });

  it.runIf(!deviceMapperPresent())('--backend dm-crypt says plainly that this kernel has no device-mapper', () => {
    const img = image('nodm.img', 20);
    expect(hc(['block', 'format', img, '--kdf-time', '0.05'], ['p'], env).code).toBe(0);
    const r = hc(['block', 'open', img, 'nodm', '--backend', 'dm-crypt'], ['p'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no device-mapper/);
  });

  it('block open takes the recovery passphrase in lower case with spaces, and names a typo', () => {
    const img = image('rec.img', 20);
    const f = hc(['block', 'format', img, '--recovery', '--kdf-time', '0.05'], ['rec pass'], env);
    expect(f.code, f.stderr).toBe(0);
    const recovery = /^\s+([0-9A-Z]{5}(?:-[0-9A-Z]{5}){7})$/m.exec(f.stdout)![1];
    const typo = recovery.slice(0, 13) + (recovery[13] === 'A' ? 'B' : 'A') + recovery.slice(14);
    const t = hc(['block', 'open', img, 'rec', '--backend', 'userspace'], [typo.toLowerCase()], env);
    expect(t.code).toBe(3);
    expect(t.stderr).toMatch(/group 3/);
    const o = hc(['block', 'open', img, 'rec', '--backend', 'userspace'], [recovery.replace(/-/g, ' ').toLowerCase()], env);
    expect(o.code, o.stderr).toBe(0);
    // a filesystem the user mounted by hand keeps the volume from closing under it
    const dev = /(\/dev\/loop\d+)/.exec(o.stdout)![1];
    const mnt = join(tmp, 'by-hand');
    mkdirSync(mnt);
    sh(`mkfs.ext4 -q -F ${dev} && mount ${dev} '${mnt}' && echo kept > '${mnt}/f'`);
    const busy = hc(['block', 'close', 'rec'], [], env);
    expect(busy.code).toBe(8);
    expect(busy.stderr).toMatch(/still mounted at .*by-hand; unmount it first/);
    sh(`umount '${mnt}'`);
    expect(hc(['block', 'close', 'rec'], [], env).code).toBe(0);
  });

  it('keeps its state under a 0700 directory, records 0600', () => {
    const dir = env.HOMECRYPT_BLOCK_STATE_DIR;
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const img = image('state.img', 20);
    expect(hc(['block', 'format', img, '--kdf-time', '0.05'], ['s'], env).code).toBe(0);
    expect(hc(['block', 'open', img, 'statecheck', '--backend', 'userspace'], ['s'], env).code).toBe(0);
    try {
      expect(statSync(join(dir, 'statecheck.json')).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(dir, 'statecheck.json'), 'utf8')).not.toMatch(/"s"|passphrase|key/i);
    } finally {
      expect(hc(['block', 'close', 'statecheck'], [], env).code).toBe(0);
    }
  });
});
