// The FUSE bridge the rest of homecrypt uses: types in bridge.ts; the kernel
// protocol on /dev/fuse (kernel/, the default: faster and exact, measured in
// docs/BENCHMARKS.md) or fuse-native (fuse-native-bridge.ts, kept as a tested
// fallback). Import from here.
export type { Caller, DirEntry, FuseMount, FuseOps, FuseStat, FuseStatfs, MountOptions } from './bridge.js';
export { FuseError, errnoOf, fuseStatfsOf } from './bridge.js';
export { fusermountUnmount } from './kernel/kernel-mount.js';
export { allowOtherRefusal } from './kernel/fuse-conf.js';
import type { FuseMount, FuseOps, MountOptions } from './bridge.js';
import { mountFuseNative } from './fuse-native-bridge.js';
import { mountKernel } from './kernel/kernel-bridge.js';

/** Mounts `ops` through the bridge `options.bridge` names (see MountOptions). */
export function mountFuse(mountPoint: string, ops: FuseOps, options: MountOptions): Promise<FuseMount> {
  return options.bridge === 'fuse-native' ? mountFuseNative(mountPoint, ops, options) : mountKernel(mountPoint, ops, options);
}
