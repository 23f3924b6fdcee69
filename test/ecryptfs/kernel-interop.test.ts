// Proof against Debian's real eCryptfs kernel, in one refvm boot
// (refvm/kernel-interop-job.sh): the kernel writes a tree that homecrypt reads
// byte-exact; homecrypt writes trees (through its FUSE mount and without a
// mount) that the kernel reads byte-exact; and a Private directory made by
// ecryptfs-setup-private opens with the login passphrase alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BIN, MANIFEST_SH, lowerManifest, openVectorVolume, plainManifest } from '../helpers/ecryptfs.js';
import { lookupUser } from '../../src/os/users.js';
import { refvmAbsentReason, runInRefvm } from '../helpers/refvm.js';
import { skipUnless } from '../helpers/requirements.js';
import { appendFileSync } from 'node:fs';
import { writePlainTree } from '../../src/ecryptfs/tree.js';
import { readPrivateSetup } from '../../src/ecryptfs/private-dir.js';
import { unwrapPassphraseFile } from '../../src/ecryptfs/wrapped-passphrase-file.js';
import { openEcryptfs } from '../../src/ecryptfs/ecryptfs-mount.js';
import { deleteUserByName } from '../helpers/users.js';
import { nameFromBytes } from '../../src/format/name-bytes.js';

const JOB = new URL('./refvm/kernel-interop-job.sh', import.meta.url).pathname;
const PASS = 'Interop Mount Pass 7';
const LOGIN = 'alice login pass 9';
const PRIVATE_PASS = 'alice private mount pass';
const CONFIGS = [
  { name: 'k16fnek', keyBytes: 16 as const, fnek: true, via: 'fuse' },
  { name: 'k32fnek', keyBytes: 32 as const, fnek: true, via: 'tree' },
  { name: 'k24plain', keyBytes: 24 as const, fnek: false, via: 'fuse' },
];

function content(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function makePlainTree(root: string): void {
  mkdirSync(join(root, 'sub/deeper/deepest'), { recursive: true });
  mkdirSync(join(root, 'empty-dir'));
  const sizes: [string, number][] = [
    ['empty', 0],
    ['one', 1],
    ['f4095', 4095],
    ['f4096', 4096],
    ['f4097', 4097],
    ['f8192', 8192],
    ['f65537', 65537],
    ['large', (1 << 18) + 3],
  ];
  sizes.forEach(([n, s], i) => writeFileSync(join(root, n), content(s, i + 1)));
  writeFileSync(join(root, 'L'.repeat(143)), 'the longest name eCryptfs allows\n');
  writeFileSync(join(root, 'héllo wörld ✓.txt'), 'utf-8 name\n');
  // names that are not UTF-8 (Linux names are bytes): a Latin-1 file and a directory holding one
  const latin1 = (...parts: Array<string | number>) => Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.of(p) : Buffer.from(p))));
  writeFileSync(latin1(root, '/caf', 0xe9, '.txt'), 'latin-1 name\n');
  mkdirSync(latin1(root, '/d', 0xff, 'r'));
  writeFileSync(latin1(root, '/d', 0xff, 'r/', 0xe0, 0x80), content(5000, 7));
  writeFileSync(join(root, 'sub/deeper/deepest/n.txt'), 'nested\n');
  writeFileSync(join(root, 'sub/s4097'), content(4097, 99));
  symlinkSync('one', join(root, 'link-rel'));
  symlinkSync('/etc/hostname', join(root, 'link-abs'));
  symlinkSync('sub/deeper/deepest/n.txt', join(root, 'link-deep'));
  symlinkSync('does/not/exist', join(root, 'link-dangling'));
  symlinkSync(`${'t'.repeat(100)}/${'u'.repeat(99)}`, join(root, 'link-long-target'));
}

const noVm = refvmAbsentReason();
if (noVm) appendFileSync(new URL('../../test-artifacts/skipped.txt', import.meta.url), `eCryptfs kernel interop: ${noVm}\n`);

describe.skipIf(!!noVm || skipUnless('root', 'fuse', 'eCryptfs kernel interop'))('against the real eCryptfs kernel (refvm)', () => {
  let w: string;
  let vm: { code: number; output: string };
  let plain: string;

  beforeAll(async () => {
    w = mkdtempSync(join(tmpdir(), 'hc-ecryptfs-vm-'));
    chmodSync(w, 0o755); // alice (uid 1000 in the VM) must reach /host/private
    plain = join(w, 'plain');
    mkdirSync(plain);
    makePlainTree(plain);
    writeFileSync(join(w, 'mount-passphrase'), PASS);
    writeFileSync(join(w, 'private-login-passphrase'), LOGIN);
    writeFileSync(join(w, 'private-mount-passphrase'), PRIVATE_PASS);
    writeFileSync(join(w, 'configs'), CONFIGS.map((c) => `${c.name} ${c.keyBytes} ${c.fnek ? 'y' : 'n'}\n`).join(''));
    // homecrypt writes the trees the kernel will read
    for (const c of CONFIGS) {
      const lower = join(w, `hc-${c.name}`);
      mkdirSync(lower);
      if (c.via === 'tree') {
        writePlainTree(openVectorVolume(lower, PASS, c.keyBytes, c.fnek), plain);
        continue;
      }
      const mnt = join(w, `mnt-${c.name}`);
      mkdirSync(mnt);
      const args = ['ecryptfs', 'mount', lower, mnt, '--passphrase-fd', '0', '--key-bytes', String(c.keyBytes), '--log-file', join(w, `log-${c.name}`)];
      if (!c.fnek) args.push('--plaintext-names');
      const r = spawnSync(BIN, args, { input: `${PASS}\n`, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`homecrypt ecryptfs mount: ${r.stderr}`);
      try {
        execFileSync('cp', ['-a', `${plain}/.`, `${mnt}/`]);
      } finally {
        execFileSync(BIN, ['ecryptfs', 'umount', mnt]);
      }
      rmSync(mnt, { recursive: true });
    }
    vm = await runInRefvm(w, JOB, { timeoutSeconds: 420 });
    writeFileSync(new URL('../../test-artifacts/ecryptfs-refvm.log', import.meta.url), vm.output);
  }, 600_000);

  const adoptUserName = `hcvmadopt${process.pid % 100000}`;
  afterAll(() => {
    deleteUserByName(adoptUserName);
    if (w) rmSync(w, { recursive: true, force: true });
  });

  /** A manifest the VM wrote, its names' bytes in the form plainManifest gives them (format/name-bytes.ts). */
  const vmManifest = (name: string) => nameFromBytes(readFileSync(join(w, 'out', name)));

  it('the tree has names that are not UTF-8 (each such byte a lone surrogate)', () => {
    expect(plainManifest(plain)).toMatch(/\t\.\/caf\udce9\.txt\t/);
    expect(plainManifest(plain)).toMatch(/\t\.\/d\udcffr\/\udce0\udc80\t/);
  });

  it('the VM job ran every step', () => {
    expect(vm.code, vm.output.slice(-3000)).toBe(0);
  });

  it.each(CONFIGS)('homecrypt reads what the kernel wrote ($name) byte-exact', (c) => {
    const want = plainManifest(plain);
    expect(vmManifest(`kernel-${c.name}.upper.manifest`)).toBe(want);
    expect(lowerManifest(openVectorVolume(join(w, `kernel-${c.name}`), PASS, c.keyBytes, c.fnek))).toBe(want);
  });

  it.each(CONFIGS)('the kernel reads what homecrypt wrote ($name, via $via) byte-exact', (c) => {
    expect(vmManifest(`hc-${c.name}.manifest`)).toBe(plainManifest(plain));
    expect(readFileSync(join(w, `out/hc-${c.name}.err`), 'utf8')).toBe('');
    // names are deterministic: homecrypt and the kernel chose the same lower names
    expect(readdirSync(join(w, `hc-${c.name}`)).sort()).toEqual(readdirSync(join(w, `kernel-${c.name}`)).sort());
  });

  it('opens an ecryptfs-setup-private home with the login passphrase (wrapped-passphrase path)', () => {
    const home = join(w, 'private/home/alice');
    // root reads the settings as it would a user's: files of the home's owner
    const setup = readPrivateSetup({ name: 'alice', uid: statSync(home).uid, home });
    expect(setup.fnekSig).toMatch(/^[0-9a-f]{16}$/);
    expect(existsSync(setup.lower)).toBe(true);
    const mountPass = unwrapPassphraseFile(setup.wrappedPassphrase, Buffer.from(LOGIN));
    expect(mountPass.toString()).toBe(PRIVATE_PASS);
    const vol = openEcryptfs(setup.lower, mountPass);
    expect(vol.keys.sig).toBe(setup.sig);
    expect(vol.keys.fnek!.sig).toBe(setup.fnekSig);
    expect(lowerManifest(vol)).toBe(plainManifest(plain));
    // and through the CLI's FUSE mount, with only the login passphrase
    const mnt = join(w, 'alice-mnt');
    mkdirSync(mnt);
    const r = spawnSync(
      BIN,
      ['ecryptfs', 'mount', setup.lower, mnt, '--wrapped', setup.wrappedPassphrase, '--passphrase-fd', '0', '--log-file', join(w, 'log-alice')],
      { input: `${LOGIN}\n`, encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    try {
      expect(plainManifest(mnt)).toBe(plainManifest(plain));
    } finally {
      execFileSync(BIN, ['ecryptfs', 'umount', mnt]);
    }
  });

  it("adopt: that ecryptfs-setup-private home unlocks at login through homecrypt's PAM hook", () => {
    const home = join(w, 'private/home/alice');
    const records = join(w, 'records');
    mkdirSync(records, { mode: 0o700 });
    deleteUserByName(adoptUserName);
    execFileSync('useradd', ['-M', '-d', home, '-s', '/bin/sh', adoptUserName]);
    const u = lookupUser(adoptUserName);
    execFileSync('chown', ['-R', `${u.uid}:${u.gid}`, home]); // uid 1000 in the VM
    const env = { ...process.env, HOMECRYPT_RECORD_DIR_FOR_TESTS: records };
    const r = spawnSync(BIN, ['ecryptfs', 'adopt', '--user', adoptUserName, '--passphrase-fd', '0', '--kdf-time', '0.05', '--no-password-check'], {
      input: `${LOGIN}\n`,
      encoding: 'utf8',
      env,
    });
    expect(r.status, r.stderr).toBe(0);
    const hook = (phase: string, type: string, input = '') =>
      spawnSync(BIN, ['pam-hook', phase], { input, encoding: 'utf8', env: { ...env, PAM_USER: adoptUserName, PAM_TYPE: type } });
    expect(hook('auth', 'auth', `${LOGIN}\0`).status).toBe(0);
    expect(hook('session', 'open_session').status).toBe(0);
    // Private.mnt says /host/private/home/alice/Private (the VM's path): the record has where it is here
    const mnt = JSON.parse(readFileSync(join(records, `${adoptUserName}.json`), 'utf8')).mountPoint as string;
    expect(mnt).toBe(join(home, 'Private'));
    expect(readFileSync('/proc/mounts', 'utf8'), 'open_session mounted nothing (see syslog)').toContain(` ${mnt} fuse`);
    try {
      const seen = spawnSync('setpriv', ['--reuid', String(u.uid), '--regid', String(u.gid), '--init-groups', 'sh', '-c', MANIFEST_SH, 'sh', mnt]);
      expect(seen.status, seen.stderr.toString()).toBe(0);
      expect(nameFromBytes(seen.stdout)).toBe(plainManifest(plain));
    } finally {
      expect(hook('session', 'close_session').status).toBe(0);
    }
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(` ${mnt} `);
  });
});
