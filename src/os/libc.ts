// The one door to native libraries: a single loader (each library loaded once,
// libc for the OS adapters, libcrypto for src/crypto, libpam), one error shape
// for failed calls (errno positive, `code` like Node's fs errors, so callers
// handle a libc failure exactly as they handle an fs one).
// It imports nothing of homecrypt, so the crypto layer below src/os may use it
// (test/architecture.test.ts places this file on its own, under src/crypto).
import koffi from 'koffi';
import { constants } from 'node:os';

export type NativeLibrary = ReturnType<typeof koffi.load>;

const loaded = new Map<string, NativeLibrary>();

/** The library by its soname, loaded on first use; throws if it cannot be loaded. */
export function nativeLibrary(soname: string): NativeLibrary {
  let lib = loaded.get(soname);
  if (!lib) {
    lib = koffi.load(soname);
    loaded.set(soname, lib);
  }
  return lib;
}

export function libc(): NativeLibrary {
  return nativeLibrary('libc.so.6');
}

export type LibcFn = (...args: unknown[]) => number;

/** Declares a function of a library (libc by default) once, by its C prototype. */
export function libcFn(prototype: string, lib: NativeLibrary = libc()): LibcFn {
  return lib.func(prototype) as unknown as LibcFn;
}

const codeOf = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v as number, k]));

/** The name of an errno (EPERM, ENOKEY…), if Node knows it. */
export function errnoName(errno: number): string | undefined {
  return codeOf.get(errno);
}

/** A failed libc call or syscall: the one shape every OS adapter throws. */
export class ErrnoError extends Error {
  readonly code: string | undefined;
  constructor(
    readonly syscall: string,
    readonly errno: number,
    /** what the call was about (a path, a key), for messages */
    readonly what = '',
  ) {
    const code = codeOf.get(errno);
    super(`${syscall}${what ? ` ${what}` : ''}: ${code ?? `errno ${errno}`}`);
    this.code = code;
  }
}

/** errno of the libc call that just returned. */
export function lastErrno(): number {
  return koffi.errno();
}

/**
 * Failures that are answers, not faults: a name looked up that is not there,
 * an xattr (an ACL) a file does not have. A FUSE daemon meets thousands of
 * them in a `git status` or an `ls -l`, and a stack trace costs more than the
 * system call did; the message still names the call and what it was about.
 */
const ANSWERS: ReadonlySet<number> = new Set([constants.errno.ENOENT, constants.errno.ENODATA]);

/** The error of the libc call that just failed (reads errno). */
export function errnoError(call: string, what = ''): ErrnoError {
  const errno = koffi.errno();
  if (!ANSWERS.has(errno)) return new ErrnoError(call, errno, what);
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new ErrnoError(call, errno, what);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Returns r, or throws the errno error when r < 0. */
export function checked(call: string, what: string, r: number): number {
  if (r < 0) throw errnoError(call, what);
  return r;
}
