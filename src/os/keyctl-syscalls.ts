// The kernel key-management syscalls (add_key(2), keyctl(2)) and per-thread
// setres[ug]id(2), called raw through libc's syscall(3) with koffi. Raw, not
// through glibc's setresuid(): glibc changes the credentials of every thread,
// the raw syscall only those of the calling (main) thread, which is what lets
// root act briefly as a user for keyring calls without touching the libuv
// worker threads. See docs/ARCHITECTURE.md (keys layer).
import { MissingFeatureError } from '../errors.js';
import { ErrnoError, errnoError, libc } from './libc.js';

const NR: Record<string, { add_key: number; keyctl: number; setresuid: number; setresgid: number }> = {
  x64: { add_key: 248, keyctl: 250, setresuid: 117, setresgid: 119 },
  arm64: { add_key: 217, keyctl: 219, setresuid: 147, setresgid: 149 },
};

export const KEY_SPEC_USER_KEYRING = -4;
export const KEYCTL = {
  GET_KEYRING_ID: 0,
  REVOKE: 3,
  SETPERM: 5,
  DESCRIBE: 6,
  UNLINK: 9,
  SEARCH: 10,
  READ: 11,
} as const;

export const ERRNO = { EPERM: 1, EACCES: 13, EINVAL: 22, ENOSYS: 38, EDQUOT: 122, ENOKEY: 126, EKEYEXPIRED: 127, EKEYREVOKED: 128 } as const;

type SyscallFn = (nr: number, ...args: unknown[]) => number | bigint;
let cached: { syscall: SyscallFn; nr: (typeof NR)[string] } | null = null;

function sys() {
  if (cached) return cached;
  const nr = NR[process.arch];
  if (!nr) throw new MissingFeatureError(`kernel keyring calls are not mapped for ${process.arch}`);
  cached = { syscall: libc().func('long syscall(long nr, ...)') as unknown as SyscallFn, nr };
  return cached;
}

function check(call: string, r: number | bigint): number {
  const n = Number(r);
  if (n === -1) throw errnoError(call);
  return n;
}

export function addKey(type: string, description: string, payload: Buffer, keyring: number): number {
  const s = sys();
  return check('add_key', s.syscall(s.nr.add_key, 'str', type, 'str', description, 'void *', payload, 'size_t', payload.length, 'int32_t', keyring));
}

export function keyctlSetPerm(serial: number, perm: number): void {
  const s = sys();
  check('keyctl(SETPERM)', s.syscall(s.nr.keyctl, 'int', KEYCTL.SETPERM, 'int32_t', serial, 'uint32_t', perm));
}

export function keyctlRevoke(serial: number): void {
  const s = sys();
  check('keyctl(REVOKE)', s.syscall(s.nr.keyctl, 'int', KEYCTL.REVOKE, 'int32_t', serial));
}

export function keyctlUnlink(serial: number, keyring: number): void {
  const s = sys();
  check('keyctl(UNLINK)', s.syscall(s.nr.keyctl, 'int', KEYCTL.UNLINK, 'int32_t', serial, 'int32_t', keyring));
}

/** The serial of a key found by searching `keyring`, or null (ENOKEY). */
export function keyctlSearch(keyring: number, type: string, description: string): number | null {
  const s = sys();
  try {
    return check('keyctl(SEARCH)', s.syscall(s.nr.keyctl, 'int', KEYCTL.SEARCH, 'int32_t', keyring, 'str', type, 'str', description, 'int32_t', 0));
  } catch (err) {
    if (err instanceof ErrnoError && (err.errno === ERRNO.ENOKEY || err.errno === ERRNO.EKEYREVOKED || err.errno === ERRNO.EKEYEXPIRED)) return null;
    throw err;
  }
}

/** Reads a key's payload (or a keyring's list of serials), growing the buffer as needed. */
export function keyctlRead(serial: number, sizeHint = 64): Buffer {
  const s = sys();
  let buf = Buffer.alloc(sizeHint);
  for (;;) {
    const n = check('keyctl(READ)', s.syscall(s.nr.keyctl, 'int', KEYCTL.READ, 'int32_t', serial, 'void *', buf, 'size_t', buf.length));
    if (n <= buf.length) {
      const out = Buffer.from(buf.subarray(0, n));
      buf.fill(0);
      return out;
    }
    buf.fill(0);
    buf = Buffer.alloc(n);
  }
}

export interface KeyDescription {
  type: string;
  uid: number;
  gid: number;
  perm: number;
  description: string;
}

export function keyctlDescribe(serial: number): KeyDescription {
  const s = sys();
  let buf = Buffer.alloc(256);
  for (;;) {
    const n = check('keyctl(DESCRIBE)', s.syscall(s.nr.keyctl, 'int', KEYCTL.DESCRIBE, 'int32_t', serial, 'void *', buf, 'size_t', buf.length));
    if (n <= buf.length) {
      const text = buf.subarray(0, Math.max(0, n - 1)).toString('utf8');
      const [type, uid, gid, perm, ...rest] = text.split(';');
      return { type, uid: Number(uid), gid: Number(gid), perm: parseInt(perm, 16), description: rest.join(';') };
    }
    buf = Buffer.alloc(n);
  }
}

export function keyctlGetKeyringId(keyring: number, create: boolean): number {
  const s = sys();
  return check('keyctl(GET_KEYRING_ID)', s.syscall(s.nr.keyctl, 'int', KEYCTL.GET_KEYRING_ID, 'int32_t', keyring, 'int', create ? 1 : 0));
}

/** setresuid(2) of the calling thread only (-1 leaves an id unchanged). */
export function threadSetresuid(r: number, e: number, saved: number): void {
  const s = sys();
  check('setresuid', s.syscall(s.nr.setresuid, 'long', r, 'long', e, 'long', saved));
}

/** setresgid(2) of the calling thread only. */
export function threadSetresgid(r: number, e: number, saved: number): void {
  const s = sys();
  check('setresgid', s.syscall(s.nr.setresgid, 'long', r, 'long', e, 'long', saved));
}
