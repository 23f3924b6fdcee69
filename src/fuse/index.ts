// The FUSE bridge the rest of homecrypt uses: types in bridge.ts, today's
// implementation over fuse-native in fuse-native-bridge.ts. Import from here.
export type { FuseMount, FuseOps, FuseStat, FuseStatfs, MountOptions } from './bridge.js';
export { FuseError } from './bridge.js';
export { errnoOf, fusermountUnmount, mountFuseNative as mountFuse } from './fuse-native-bridge.js';
