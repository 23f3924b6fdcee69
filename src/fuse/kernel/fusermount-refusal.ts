// What a failed fusermount3 said, as a typed error: a user's mount that the
// set-uid helper refused is a permission, a missing feature or a refusal the
// user can act on, not a bug (an untyped Error reaches the CLI as "internal
// error", exit 70). fusermount3 starts each line with its own name; the
// message names it once.
import { HomecryptError, MissingFeatureError, PermissionDeniedError, RefusedError, UsageError, type HomecryptErrorOptions } from '../../errors.js';

type Refusal = new (message: string, opts?: HomecryptErrorOptions) => HomecryptError;

/** fusermount3's words (util/fusermount.c, libfuse 3.14) → the error type and what to do. */
const RULES: readonly { said: RegExp; as: Refusal; hint: string }[] = [
  {
    said: /only allowed if 'user_allow_other' is set/,
    as: PermissionDeniedError,
    hint: 'root can allow it with a line user_allow_other in /etc/fuse.conf; or mount without letting other users in',
  },
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

/** The error for a fusermount3 that exited with `status` after writing `stderr`, mounting at `mountPoint`. */
export function fusermountRefusal(mountPoint: string, stderr: string, status: number | null): HomecryptError {
  const said = stderr
    .trim()
    .split('\n')
    .map((line) => line.replace(/^fusermount3?: /, '').trim())
    .filter((line) => line !== '')
    .join('; ');
  const message = `FUSE mount at ${mountPoint} failed: fusermount3: ${said || `exit status ${status}`}`;
  const rule = RULES.find((r) => r.said.test(said));
  if (rule) return new rule.as(message, { hint: rule.hint });
  return new HomecryptError(message, { hint: 'is /dev/fuse usable, and the mount point an empty directory of yours not in use?' });
}
