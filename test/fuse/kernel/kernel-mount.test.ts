// Mounting through fusermount3 (src/fuse/kernel/kernel-mount.ts) when it does
// not do its part, with a stand-in fusermount3 first on PATH: its refusal is a
// typed error naming it once, one that exits without passing the /dev/fuse
// descriptor is reported (it used to leave recvmsg blocking the thread for
// ever), and one that is absent is a missing program. Nothing gets mounted.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fusermountUnmount, mountWithFusermount, unmountKernel } from '../../../src/fuse/kernel/kernel-mount.js';
import { MissingFeatureError, MountBusyError, PermissionDeniedError, UsageError } from '../../../src/errors.js';

describe('mountWithFusermount with a fusermount3 that does not mount', () => {
  let dir: string;
  const path = process.env.PATH;
  beforeAll(() => {
    dir = fs.mkdtempSync('/tmp/hc-fake-fusermount-');
  });
  afterEach(() => {
    process.env.PATH = path;
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  /** A fusermount3 running `script` (sh), alone on PATH. */
  const fake = (name: string, script: string) => {
    const bin = join(dir, name);
    fs.mkdirSync(bin);
    fs.writeFileSync(join(bin, 'fusermount3'), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    process.env.PATH = bin;
  };
  const mountPoint = '/tmp/hc-nowhere';
  const mountFails = async () => {
    try {
      await mountWithFusermount({ mountPoint, fsname: 'test' });
    } catch (err) {
      return err as Error & { hint?: string };
    }
    throw new Error('it mounted');
  };

  it('its refusal is typed, with "fusermount3: " once', async () => {
    fake('refuses', `echo "fusermount3: user has no write access to mountpoint ${mountPoint}" >&2; exit 1`);
    const err = await mountFails();
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect(err.message).toBe(`FUSE mount at ${mountPoint} failed: fusermount3: user has no write access to mountpoint ${mountPoint}`);
  });

  it('an exit without the descriptor is reported, not waited on', async () => {
    fake('silent', 'exit 0');
    const err = await mountFails();
    expect(err).toBeInstanceOf(MissingFeatureError);
    expect(err.message).toBe(`FUSE mount at ${mountPoint} failed: fusermount3 did not pass the /dev/fuse descriptor back`);
  }, 10_000);

  it('an absent fusermount3 is a missing program', async () => {
    process.env.PATH = join(dir, 'empty');
    const err = await mountFails();
    expect(err).toBeInstanceOf(MissingFeatureError);
    expect(err.message).toBe('fusermount3 is not installed');
    expect(err.hint).toBe('install the Debian package fuse3');
  });

  it('an unmount fusermount3 refuses is typed, with "fusermount3: " once: busy is the busy mount\'s refusal', async () => {
    fake('busy', `echo "fusermount3: failed to unmount $3: Device or resource busy" >&2; exit 1`);
    const err = await fusermountUnmount(mountPoint, false).then(
      () => null,
      (e: Error & { hint?: string }) => e,
    );
    expect(err).toBeInstanceOf(MountBusyError);
    expect(err!.message).toBe(`cannot unmount ${mountPoint}: fusermount3: failed to unmount ${mountPoint}: Device or resource busy`);
    expect(err!.hint).toBe(`close what uses it (fuser -vm '${mountPoint}' lists the processes), then run the same command again`);
  });

  it('an unmount of what is not mounted is a usage error, from fusermount3 and from umount2 alike', async () => {
    const plain = join(dir, 'not-a-mount');
    fs.mkdirSync(plain);
    const viaFusermount = await fusermountUnmount(plain, false).then(
      () => null,
      (e: Error) => e,
    );
    expect(viaFusermount).toBeInstanceOf(UsageError);
    expect(viaFusermount!.message).toBe(`cannot unmount ${plain}: fusermount3: failed to unmount ${plain}: Invalid argument`);
    if (process.getuid?.() !== 0) return; // umount2 is root's
    const viaUmount2 = await unmountKernel(plain, false).then(
      () => null,
      (e: Error) => e,
    );
    expect(viaUmount2).toBeInstanceOf(UsageError);
    expect(viaUmount2!.message).toBe(`cannot unmount ${plain}: umount2: Invalid argument`);
  });
});
