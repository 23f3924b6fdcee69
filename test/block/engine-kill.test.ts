// Killing the userspace engine (kill -9) leaves the volume consistent up to
// what the filesystem had flushed, and `block open` works again: the stale
// FUSE mount, loop device and filesystem mount are cleaned up first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closeAll, hc, sh, tempDir } from './helpers.js';
import { skipUnless } from '../helpers/requirements.js';

// made when the tests run (a skipped file leaves nothing behind)
let tmp = '';
const env: Record<string, string> = {};

function status(): Array<{ state: string; pid: number }> {
  const r = hc(['block', 'status', '--json'], [], env);
  expect(r.code, `status: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout);
}

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'block engine kill test'))('kill -9 of the userspace engine', () => {
  beforeAll(() => {
    tmp = tempDir('kill');
    env.HOMECRYPT_BLOCK_STATE_DIR = join(tmp, 'state');
  });
  afterAll(() => {
    closeAll(env);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('keeps flushed data, and the volume opens again', () => {
    const img = join(tmp, 'v.img');
    const mnt = join(tmp, 'mnt');
    writeFileSync(img, '');
    sh(`truncate -s 64M '${img}'`);
    const f = hc(['block', 'format', img, '--mkfs', 'ext4', '--kdf-time', '0.05', '--backend', 'userspace'], ['kill pass'], env);
    expect(f.code, f.stderr).toBe(0);
    const o = hc(['block', 'open', img, 'killme', '--mount', mnt], ['kill pass'], env);
    expect(o.code, o.stderr).toBe(0);
    sh(`head -c 4000000 /dev/urandom > '${mnt}/flushed.bin' && sync -f '${mnt}/flushed.bin'`);
    const sum = sh(`sha256sum < '${mnt}/flushed.bin'`);
    sh(`head -c 1000000 /dev/urandom > '${mnt}/unflushed.bin'`);
    const before = status()[0];
    expect(before.state).toBe('open');
    process.kill(before.pid, 'SIGKILL');
    sh(`for i in $(seq 50); do [ -e /proc/${before.pid} ] || break; sleep 0.1; done`);

    const stale = status()[0];
    expect(stale.state).toBe('stale');
    const again = hc(['block', 'open', img, 'killme', '--mount', mnt], ['kill pass'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/cleaned up 'killme', left behind by an engine that stopped/);
    expect(sh(`sha256sum < '${mnt}/flushed.bin'`)).toBe(sum);
    // the old loop device and FUSE mount are gone: exactly one of each remains
    expect(sh(`grep -c 'homecrypt-block:killme' /proc/mounts || true`).trim()).toBe('1');
    expect(sh(`losetup -j '${join(tmp, 'state', 'killme.fuse', 'volume')}' | wc -l`).trim()).toBe('1');
    expect(hc(['block', 'close', 'killme'], [], env).code).toBe(0);

    // the filesystem is clean (the mount above replayed the journal)
    const o2 = hc(['block', 'open', img, 'killme'], ['kill pass'], env);
    expect(o2.code, o2.stderr).toBe(0);
    const dev = /(\/dev\/loop\d+)/.exec(o2.stdout)![1];
    expect(sh(`e2fsck -fn ${dev} >/dev/null 2>&1; echo $?`).trim()).toBe('0');
    expect(hc(['block', 'close', 'killme'], [], env).code).toBe(0);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain('killme');
  });
});
