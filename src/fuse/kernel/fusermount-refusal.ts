// What a failed fusermount3 said, as a typed error: a user's mount that the
// set-uid helper refused is a permission, a missing feature or a refusal the
// user can act on, not a bug (an untyped Error reaches the CLI as "internal
// error", exit 70); so is an unmount it could not do. fusermount3 starts each
// line with its own name; the message names it once.
import {
  HomecryptError,
  MissingFeatureError,
  MountBusyError,
  PermissionDeniedError,
  RefusedError,
  UsageError,
  type HomecryptErrorOptions,
} from '../../errors.js';

type Refusal = new (message: string, opts?: HomecryptErrorOptions) => HomecryptError;

/** fusermount3's words when a user asks for allow_other that /etc/fuse.conf does not allow (also said before it runs: fuse-conf.ts). */
export const ALLOW_OTHER_REFUSED = "option allow_other only allowed if 'user_allow_other' is set in /etc/fuse.conf";
export const ALLOW_OTHER_HINT = 'root can allow it with a line user_allow_other in /etc/fuse.conf; or mount without letting other users in';

/** fusermount3's words (util/fusermount.c, libfuse 3.14) → the error type and what to do. */
const RULES: readonly { said: RegExp; as: Refusal; hint: string }[] = [
  { said: /only allowed if 'user_allow_other' is set/, as: PermissionDeniedError, hint: ALLOW_OTHER_HINT },
  { said: /not owned by user|has no write access to mountpoint/, as: PermissionDeniedError, hint: 'mount on an empty directory of your own' },
  { said: /failed to open \/dev\/fuse: Permission denied/, as: PermissionDeniedError, hint: 'ask root to make /dev/fuse usable (mode 0666)' },
  { said: /fuse device not found/, as: MissingFeatureError, hint: "load the kernel's FUSE module: modprobe fuse (as root)" },
  {
    said: /too many FUSE filesystems mounted/,
    as: RefusedError,
    hint: 'unmount a FUSE mount you no longer need, or ask root to raise mount_max in /etc/fuse.conf',
  },
  { said: /mounting over filesystem type .* is forbidden/, as: RefusedError, hint: 'mount on a directory of a local filesystem' },
  { said: /bad mount point|failed to access mountpoint|is not a directory/, as: UsageError, hint: 'mount on an existing empty directory of your own' },
];

/** fusermount3's lines without its name, joined. */
function withoutName(stderr: string): string {
  return stderr
    .trim()
    .split('\n')
    .map((line) => line.replace(/^fusermount3?: /, '').trim())
    .filter((line) => line !== '')
    .join('; ');
}

/** The error for a fusermount3 that exited with `status` after writing `stderr`, mounting at `mountPoint`. */
export function fusermountRefusal(mountPoint: string, stderr: string, status: number | null): HomecryptError {
  const said = withoutName(stderr);
  const message = `FUSE mount at ${mountPoint} failed: fusermount3: ${said || `exit status ${status}`}`;
  const rule = RULES.find((r) => r.said.test(said));
  if (rule) return new rule.as(message, { hint: rule.hint });
  return new HomecryptError(message, { hint: 'is /dev/fuse usable, and the mount point an empty directory of yours not in use?' });
}

/**
 * What `fusermount3 -u` says (unmount_fuse_locked, may_unmount,
 * check_is_mount_child, chdir_to_parent in util/fusermount.c) or what
 * umount2(2) fails with as root (its strerror) → the error type and what to do.
 */
const UNMOUNT_RULES: readonly { said: RegExp; as: (mountPoint: string, message: string) => HomecryptError }[] = [
  { said: /Device or resource busy/, as: (mnt, message) => new MountBusyError(mnt, message) },
  {
    // fusermount3 finds no mount of this user's there: none at all, or another user's
    said: /entry for .* not found in|not mounted|Invalid argument|No such file or directory/,
    as: (mnt, message) =>
      new UsageError(message, { hint: `findmnt ${mnt} shows what is mounted there; only the user who mounted it, or root, can unmount it` }),
  },
  {
    said: /Operation not permitted|Permission denied/,
    as: (mnt, message) => new PermissionDeniedError(message, { hint: `only the user who mounted ${mnt}, or root, can unmount it` }),
  },
  { said: /mountpoint moved/, as: (_mnt, message) => new RefusedError(message, { hint: 'the mount point was renamed meanwhile: unmount it where it is now' }) },
];

/** The error for an unmount of `mountPoint` that failed, `said` by fusermount3 (`program`) or by umount2(2). */
export function unmountRefusal(mountPoint: string, said: string, program: string): HomecryptError {
  const words = withoutName(said);
  const message = `cannot unmount ${mountPoint}: ${program}: ${words || 'it failed without a word'}`;
  const rule = UNMOUNT_RULES.find((r) => r.said.test(words));
  if (rule) return rule.as(mountPoint, message);
  return new HomecryptError(message, { hint: `findmnt ${mountPoint} shows what is mounted there` });
}

/** umount2(2)'s errno in strerror's words, so that root's refusals read and map like fusermount3's. */
const STRERROR = new Map([
  ['EBUSY', 'Device or resource busy'],
  ['EINVAL', 'Invalid argument'],
  ['ENOENT', 'No such file or directory'],
  ['EPERM', 'Operation not permitted'],
  ['EACCES', 'Permission denied'],
]);

/** The error for root's umount2(2) of `mountPoint` failing with errno `code`. */
export function umount2Refusal(mountPoint: string, code: string | undefined): HomecryptError {
  return unmountRefusal(mountPoint, (code && STRERROR.get(code)) ?? code ?? 'unknown errno', 'umount2');
}
