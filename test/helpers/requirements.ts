// A test may skip only where a kernel feature is truly absent. Each skip is
// recorded with its reason, and ./run test prints the list at the end.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { deviceMapperPresent } from '../../src/block/dmcrypt-backend.js';

const SKIP_LOG = new URL('../../test-artifacts/skipped.txt', import.meta.url);

/** Returns null when `feature` is present, else the reason it is absent. */
/** Where test/engine/pjdfstest.test.ts looks for a pjdfstest built by hand (docs/POSIX.md). */
export const PJDFSTEST_DIR = '/var/cache/homecrypt-test/pjdfstest';
/** The pjdfstest commit that copy is built from (github.com/pjd/pjdfstest; docs/POSIX.md's results are of it). */
export const PJDFSTEST_COMMIT = '85a8aea9e685999ef0540392fd80535f873d7ff7';

export function absentReason(feature: 'root' | 'fuse' | 'keyring' | 'loop' | 'device-mapper' | 'ecryptfs' | 'pjdfstest'): string | null {
  switch (feature) {
    case 'root':
      return process.getuid?.() === 0 ? null : 'not running as root';
    case 'fuse':
      return existsSync('/dev/fuse') ? null : '/dev/fuse is absent';
    case 'keyring':
      return existsSync('/proc/keys') ? null : '/proc/keys is absent (no kernel keyring)';
    case 'loop':
      return existsSync('/dev/loop-control') ? null : '/dev/loop-control is absent';
    case 'device-mapper':
      // cryptsetup creates /dev/mapper/control even where the kernel lacks
      // device-mapper, so ask the kernel (src/block/dmcrypt-backend.ts agrees)
      return deviceMapperPresent() ? null : 'no device-mapper in this kernel (not in /proc/misc, no dm-mod module)';
    case 'pjdfstest':
      // not packaged in Debian and not buildable from the network in CI: docs/POSIX.md says how to build it there
      return existsSync(`${PJDFSTEST_DIR}/pjdfstest`) && existsSync(`${PJDFSTEST_DIR}/tests/conf`)
        ? null
        : `no pjdfstest built at ${PJDFSTEST_DIR} (commit ${PJDFSTEST_COMMIT.slice(0, 7)}; not packaged in Debian; docs/POSIX.md)`;
    case 'ecryptfs':
      return readFileSync('/proc/filesystems', 'utf8').includes('ecryptfs') ? null : 'no eCryptfs in this kernel';
  }
}

/**
 * Use as `describe.skipIf(skipUnless('fuse', 'engine mount tests'))(...)`:
 * true (skip) when a feature is absent, and the reason is logged.
 */
export function skipUnless(...args: [...features: Parameters<typeof absentReason>[0][], what: string]): boolean {
  const what = args[args.length - 1] as string;
  const features = args.slice(0, -1) as Parameters<typeof absentReason>[0][];
  for (const f of features) {
    const reason = absentReason(f);
    if (reason) {
      appendFileSync(SKIP_LOG, `${what}: ${reason}\n`);
      return true;
    }
  }
  return false;
}
