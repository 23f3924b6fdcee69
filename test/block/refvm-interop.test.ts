// Real dm-crypt, in Debian's kernel under qemu (../shared/refvm), one boot:
// volumes homecrypt formatted and filled through its userspace engine open
// with `cryptsetup open` there and read back the same files; a volume
// cryptsetup formatted and filled through dm-crypt there opens in homecrypt's
// userspace engine here and reads back the same files.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { closeAll, REPO, hc, sh, tempDir } from './helpers.js';
import { skipUnless } from '../helpers/requirements.js';
import { refvmAbsentReason, runInRefvm } from '../helpers/refvm.js';
import { appendFileSync } from 'node:fs';

// made when the tests run (a skipped file leaves nothing behind)
let tmp = '';
const env: Record<string, string> = {};
const VM = join(REPO, 'test/block/vm');

function vmAbsent(): boolean {
  const why = refvmAbsentReason();
  if (why) appendFileSync(join(REPO, 'test-artifacts/skipped.txt'), `block refvm interop: ${why}\n`);
  return why !== null;
}

const listing = (dir: string) => sh(`. '${join(VM, 'listing.sh')}'; listing '${dir}'`);

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'block refvm interop') || vmAbsent())('homecrypt ↔ kernel dm-crypt (refvm)', () => {
  beforeAll(() => {
    tmp = tempDir('refvm');
    env.HOMECRYPT_BLOCK_STATE_DIR = join(tmp, 'state');
  });
  afterAll(() => {
    closeAll(env);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('each side reads back the files the other wrote', { timeout: 300_000 }, async () => {
    const share = join(tmp, 'share');
    const src = join(share, 'src');
    mkdirSync(join(src, 'sub/deeper'), { recursive: true });
    for (const size of [0, 1, 4095, 4096, 4097, 65537]) writeFileSync(join(src, `size-${size}`), randomBytes(size));
    writeFileSync(join(src, 'sub/deeper/big.bin'), randomBytes(3 * 1024 * 1024 + 123));
    writeFileSync(join(src, `sub/${'long-name-'.repeat(20)}`), 'long name\n');
    symlinkSync('../size-1', join(src, 'sub/link'));
    copyFileSync(join(VM, 'listing.sh'), join(share, 'listing.sh'));
    writeFileSync(join(share, 'hc.key'), 'homecrypt made this', { mode: 0o600 });
    writeFileSync(join(share, 'cs.key'), 'cryptsetup made this', { mode: 0o600 });
    const want = listing(src);
    expect(want.split('\n').length).toBeGreaterThan(10);

    // homecrypt formats and fills, through the userspace engine, in both sector sizes
    for (const sector of ['4096', '512']) {
      const img = join(share, `hc-${sector}.img`);
      writeFileSync(img, '');
      sh(`truncate -s 48M '${img}'`);
      const f = hc(
        ['block', 'format', img, '--mkfs', 'ext4', '--sector-size', sector, '--kdf-time', '0.05', '--backend', 'userspace'],
        ['homecrypt made this'],
        env,
      );
      expect(f.code, f.stderr).toBe(0);
      const mnt = join(tmp, `m-${sector}`);
      const o = hc(['block', 'open', img, 'hcfill', '--mount', mnt, '--backend', 'userspace'], ['homecrypt made this'], env);
      expect(o.code, o.stderr).toBe(0);
      sh(`cp -R -P '${src}/.' '${mnt}/'`);
      expect(hc(['block', 'close', 'hcfill'], [], env).code).toBe(0);
    }
    const cs = join(share, 'cs.img');
    writeFileSync(cs, '');
    sh(`truncate -s 48M '${cs}'`);

    const vm = await runInRefvm(share, join(VM, 'luks-interop-job.sh'), { timeoutSeconds: 240 });
    writeFileSync(join(REPO, 'test-artifacts/block-refvm-interop.log'), vm.output);
    expect(vm.code, vm.output.slice(-3000)).toBe(0);

    for (const sector of ['4096', '512']) {
      expect(readFileSync(join(share, `hc-${sector}.listing`), 'utf8')).toBe(want);
      const st = readFileSync(join(share, `hc-${sector}.status`), 'utf8');
      expect(st).toContain('cipher=aes-xts-plain64');
      expect(st).toContain(`sector size=${sector}`);
    }

    // the reverse: dm-crypt wrote it, homecrypt's userspace engine reads it
    const mnt = join(tmp, 'm-cs');
    const o = hc(['block', 'open', cs, 'csread', '--mount', mnt, '--backend', 'userspace'], ['cryptsetup made this'], env);
    expect(o.code, o.stderr).toBe(0);
    expect(listing(mnt)).toBe(want);
    expect(hc(['block', 'close', 'csread'], [], env).code).toBe(0);
  });
});
