// The FUSE bridge the rest of homecrypt uses: types in bridge.ts, today's
// implementation over fuse-native in fuse-native-bridge.ts. Import from here.
export type { FuseMount, FuseOps, FuseStat, FuseStatfs, MountOptions } from './bridge.js';
export { FuseError } from './bridge.js';
export { errnoOf, fusermountUnmount } from './fuse-native-bridge.js';
import type { FuseMount, FuseOps, MountOptions } from './bridge.js';
import { mountFuseNative } from './fuse-native-bridge.js';
import { mountKernel } from './kernel/kernel-bridge.js';

/** Mounts `ops` through the bridge `options.bridge` names (see MountOptions). */
export function mountFuse(mountPoint: string, ops: FuseOps, options: MountOptions): Promise<FuseMount> {
  return options.bridge === 'kernel' ? mountKernel(mountPoint, ops, options) : mountFuseNative(mountPoint, ops, options);
}
