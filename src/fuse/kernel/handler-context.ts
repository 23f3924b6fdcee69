// What a request handler (handlers/) may use of its session: the state and
// helpers of KernelSession (kernel-bridge.ts), named here so that handlers
// depend on this interface and not on the session's file (which imports them).
import type { DirEntry, FuseOps, FuseStat, MountOptions } from '../bridge.js';
import type { DirCookies } from './dir-cookies.js';
import type { InterruptTable } from './interrupts.js';
import type { KernelBridgeOptions } from './kernel-options.js';
import type { Node, NodeTable } from './node-table.js';

/** Thrown inside a handler to answer with an errno. */
export class Errno {
  constructor(readonly errno: number) {}
}

export function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** An open directory: its node, the filesystem's handle, the listing read at offset 0 and its entries' offsets. */
export interface DirHandle {
  node: Node;
  fsFh: number;
  names: Array<string | DirEntry> | null;
  cookies: number[] | null;
}

export interface HandlerContext {
  readonly ops: FuseOps;
  readonly options: MountOptions;
  readonly kopts: KernelBridgeOptions;
  /** The reply buffer (header at 0, payload from OUT_HEADER). */
  readonly out: Buffer;
  /** Spare READ reply buffers. */
  readonly readBufs: Buffer[];
  readonly maxIo: number;
  readonly attrTimeout: number;
  readonly entryTimeout: number;
  readonly negativeTimeout: number;
  readonly onUnexpected: (op: string, path: string, err: unknown) => void;
  readonly nodes: NodeTable;
  readonly dirs: Map<number, DirHandle>;
  nextDirFh: number;
  /** The entry numbers (offsets) of directory `node`'s names, kept while the node is. */
  dirCookies(node: Node): DirCookies;
  /** FuseOps file handle → its node. */
  readonly fileNode: Map<number, Node>;
  /** FUSE_DONT_MASK granted (INIT). */
  dontMask: boolean;
  /** The kernel opens directories without OPENDIR (INIT: kernelOpensDirs); READDIR then comes with handle 0. */
  kernelOpensDirs: boolean;
  /** Directory `node`'s listing for READDIRs without a handle (kernelOpensDirs), kept while the node is. */
  listingOf(node: Node): DirHandle;
  /** Direct writers in use (INIT). */
  directIo: boolean;
  /** FUSE_SETXATTR_EXT granted (INIT): SETXATTR carries setxattr_flags. */
  setxattrExt: boolean;
  initDone: (() => void) | null;
  initFailed: ((e: Error) => void) | null;
  readonly interrupts: InterruptTable;
  /** The descriptor the request being answered came from. */
  curFd: number;

  replyErr(unique: bigint, errno: number): void;
  replyOk(unique: bigint, len: number): void;
  send(len: number, buf?: Buffer): void;
  later(unique: bigint): () => boolean;
  fail(op: string, path: string, err: unknown): number;
  run<T>(unique: bigint, op: string, path: string, fn: () => T | Promise<T>, reply: (v: T) => number, dropped?: (v: T) => void): boolean;
  finish<T>(unique: bigint, op: string, path: string, v: T, reply: (v: T) => number): void;
  then<A, B>(v: A | Promise<A>, next: (a: A) => B | Promise<B>): B | Promise<B>;
  quietly(op: string, path: string, fn: () => unknown): void;
  node(id: number): Node;
  pathOf(id: number): string;
  childPath(parent: number, name: string): string;
  statNode(n: Node, fh: number): FuseStat | Promise<FuseStat>;
  entry(path: string, st: FuseStat, at?: number): number;
  opened(n: Node, fh: number, flags: number, st?: FuseStat): number;
  dropHandle(path: string, fh: number): void;
  invalidateAttrs(id: number): void;
}
