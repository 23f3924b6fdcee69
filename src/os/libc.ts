// One door to libc for the OS adapters: a single koffi handle, and one error
// shape for failed calls (errno positive, `code` like Node's fs errors), so
// callers handle a libc failure exactly as they handle an fs one.
import koffi from 'koffi';
import { constants } from 'node:os';

let handle: ReturnType<typeof koffi.load> | null = null;

export function libc(): ReturnType<typeof koffi.load> {
  if (!handle) handle = koffi.load('libc.so.6');
  return handle;
}

export type LibcFn = (...args: unknown[]) => number;

/** Declares a libc function once (by its C prototype). */
export function libcFn(prototype: string): LibcFn {
  return libc().func(prototype) as unknown as LibcFn;
}

const codeOf = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v as number, k]));

export type ErrnoError = Error & { errno: number; code?: string; syscall: string };

/** errno of the libc call that just returned. */
export function lastErrno(): number {
  return koffi.errno();
}

/** The error of the libc call that just failed (reads errno). */
export function errnoError(call: string, what: string): ErrnoError {
  const errno = koffi.errno();
  const code = codeOf.get(errno);
  const err = new Error(`${call} ${what}: ${code ?? `errno ${errno}`}`) as ErrnoError;
  err.errno = errno;
  err.code = code;
  err.syscall = call;
  return err;
}

/** Returns r, or throws the errno error when r < 0. */
export function checked(call: string, what: string, r: number): number {
  if (r < 0) throw errnoError(call, what);
  return r;
}
