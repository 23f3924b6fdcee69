// The answers an OS installer gives the homecrypt step, and their validation.
// The schema is documented in docs/INSTALLER.md and installer/answers.schema.json;
// every error names the answer that is wrong, so a preseed author can fix it
// without reading code. Parsing is defensive: any JSON a file may hold gives a
// clear UsageError, never a crash.
import { UsageError } from '../errors.js';

export const ANSWERS_VERSION = 1;

export type HomeMode = 'home' | 'private' | 'no';

export interface BlockAnswers {
  /** Block device or image file holding the volume, as a path inside the target. */
  device: string;
  /** dm-crypt mapping name: /dev/mapper/NAME at boot. */
  name: string;
  /** Where the opened volume is mounted (fstab), e.g. /home; null: crypttab only. */
  mountPoint: string | null;
  filesystem: string;
  /** Format the device now (destroys what it holds). Default false: it already is. */
  format: boolean;
}

export interface Answers {
  version: 1;
  /** The first user, whose home is encrypted. Null only when encryptHome is "no". */
  user: string | null;
  /** Create the account in the target when it does not exist yet. */
  createUser: boolean;
  /** Full name (GECOS) for a created account. */
  fullName: string;
  encryptHome: HomeMode;
  /** Host path of a root-owned 0600 file whose first line is the passphrase. */
  passphraseFile: string | null;
  /** Argon2id calibration target in seconds; null: setup's default. */
  kdfTime: number | null;
  /** Host path where the recovery key is stored (0600) instead of being printed. */
  recoveryKeyFile: string | null;
  block: BlockAnswers | null;
  /** "auto" (the .deb when one is found, else copy the build), "copy", or a .deb path. */
  package: string;
}

const TOP_KEYS = [
  'version',
  'user',
  'createUser',
  'fullName',
  'encryptHome',
  'passphraseFile',
  'kdfTime',
  'recoveryKeyFile',
  'block',
  'package',
  'passphrase',
] as const;
const BLOCK_KEYS = ['device', 'name', 'mountPoint', 'filesystem', 'format'] as const;

/** Login names as Debian's adduser accepts them by default (NAME_REGEX). */
export const USER_NAME_RE = /^[a-z][-a-z0-9_]{0,31}$/;
const MAPPER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$/;
const FILESYSTEMS = ['ext4', 'ext3', 'ext2'];

function bad(name: string, what: string): UsageError {
  return new UsageError(`answers: "${name}" ${what}`);
}

function show(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object' && v !== null) return 'an object';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function rejectUnknown(obj: Record<string, unknown>, allowed: readonly string[], prefix: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw bad(
        `${prefix}${k}`,
        `is not a known answer (known: ${allowed
          .filter((a) => a !== 'passphrase')
          .map((a) => prefix + a)
          .join(', ')})`,
      );
    }
  }
}

function str(obj: Record<string, unknown>, key: string, name: string, opts: { required?: boolean; def?: string | null } = {}): string | null {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (opts.required) throw bad(name, 'is required');
    return opts.def ?? null;
  }
  if (typeof v !== 'string') throw bad(name, `must be a string (got ${show(v)})`);
  if (v.length === 0) throw bad(name, 'must not be empty');
  if (v.length > 4096 || /[\0\n]/.test(v)) throw bad(name, 'must be a single line of at most 4096 characters');
  return v;
}

function bool(obj: Record<string, unknown>, key: string, name: string, def: boolean): boolean {
  const v = obj[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw bad(name, `must be true or false (got ${show(v)})`);
  return v;
}

function absPath(v: string | null, name: string): string | null {
  if (v !== null && !v.startsWith('/')) throw bad(name, `must be an absolute path (got ${show(v)})`);
  if (v !== null && v.split('/').includes('..')) throw bad(name, `must not contain ".." (got ${show(v)})`);
  return v;
}

/** Validates parsed JSON as answers; throws a UsageError naming the bad answer. */
export function validateAnswers(raw: unknown): Answers {
  if (!isObject(raw)) throw new UsageError(`answers: the file must hold a JSON object (got ${show(raw)})`);
  rejectUnknown(raw, TOP_KEYS, '');
  if (raw.passphrase !== undefined) {
    throw bad('passphrase', 'may not be written in the answers file: put it in a root-only file named by "passphraseFile", or pass it with --passphrase-fd');
  }
  if (raw.version !== ANSWERS_VERSION) {
    throw bad(
      'version',
      raw.version === undefined
        ? `is required (this build reads version ${ANSWERS_VERSION})`
        : `must be ${ANSWERS_VERSION} (got ${show(raw.version)}; this build reads version ${ANSWERS_VERSION})`,
    );
  }

  const encryptHome = (str(raw, 'encryptHome', 'encryptHome', { def: 'home' }) ?? 'home') as HomeMode;
  if (!['home', 'private', 'no'].includes(encryptHome)) {
    throw bad('encryptHome', `must be one of "home", "private", "no" (got ${show(raw.encryptHome)})`);
  }

  const user = str(raw, 'user', 'user', { required: encryptHome !== 'no' });
  if (user !== null && !USER_NAME_RE.test(user)) {
    throw bad('user', `must be a login name: a lower-case letter, then up to 31 of a-z 0-9 _ - (got ${show(user)})`);
  }
  if (user === 'root') throw bad('user', "must not be root (encrypt a regular user's home)");
  const createUser = bool(raw, 'createUser', 'createUser', false);
  const fullName = str(raw, 'fullName', 'fullName', { def: '' }) ?? '';
  if (/[:,=]/.test(fullName)) throw bad('fullName', `must not contain ':', ',' or '=' (got ${show(fullName)})`);

  const passphraseFile = absPath(str(raw, 'passphraseFile', 'passphraseFile'), 'passphraseFile');
  const recoveryKeyFile = absPath(str(raw, 'recoveryKeyFile', 'recoveryKeyFile'), 'recoveryKeyFile');

  let kdfTime: number | null = null;
  if (raw.kdfTime !== undefined && raw.kdfTime !== null) {
    if (typeof raw.kdfTime !== 'number' || !Number.isFinite(raw.kdfTime) || raw.kdfTime < 0.01 || raw.kdfTime > 60) {
      throw bad('kdfTime', `must be a number of seconds from 0.01 to 60 (got ${show(raw.kdfTime)})`);
    }
    kdfTime = raw.kdfTime;
  }

  let block: BlockAnswers | null = null;
  if (raw.block !== undefined && raw.block !== null) {
    if (!isObject(raw.block)) throw bad('block', `must be an object or null (got ${show(raw.block)})`);
    const b = raw.block;
    rejectUnknown(b, BLOCK_KEYS, 'block.');
    const device = str(b, 'device', 'block.device', { required: true }) as string;
    if (!device.startsWith('/') || /\s/.test(device) || device.split('/').includes('..')) {
      throw bad('block.device', `must be the absolute path of a block device or image file in the target, without blanks or ".." (got ${show(device)})`);
    }
    const name = str(b, 'name', 'block.name', { required: true }) as string;
    if (!MAPPER_NAME_RE.test(name)) throw bad('block.name', `must be a device-mapper name: letters, digits, _ . + - (got ${show(name)})`);
    const mountPoint = absPath(str(b, 'mountPoint', 'block.mountPoint'), 'block.mountPoint');
    if (mountPoint !== null && /\s/.test(mountPoint)) throw bad('block.mountPoint', `must not contain white space (got ${show(mountPoint)})`);
    const filesystem = str(b, 'filesystem', 'block.filesystem', { def: 'ext4' }) as string;
    if (!FILESYSTEMS.includes(filesystem)) throw bad('block.filesystem', `must be one of ${FILESYSTEMS.join(', ')} (got ${show(filesystem)})`);
    block = { device, name, mountPoint, filesystem, format: bool(b, 'format', 'block.format', false) };
  }

  const pkg = str(raw, 'package', 'package', { def: 'auto' }) as string;
  if (pkg !== 'auto' && pkg !== 'copy' && !(pkg.startsWith('/') && pkg.endsWith('.deb'))) {
    throw bad('package', `must be "auto", "copy" or the absolute path of a .deb (got ${show(pkg)})`);
  }

  return { version: 1, user, createUser, fullName, encryptHome, passphraseFile, kdfTime, recoveryKeyFile, block, package: pkg };
}

/** Parses the text of an answers file (`file` is only used in messages). */
export function parseAnswers(text: string, file: string): Answers {
  if (text.length > 1 << 20) throw new UsageError(`${file}: answers file is larger than 1 MiB`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    // RangeError too: nesting deep enough to exhaust the parser's stack.
    throw new UsageError(`${file}: not valid JSON (${(err as Error).message.slice(0, 200)})`);
  }
  try {
    return validateAnswers(raw);
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${file}: ${err.message}`);
    throw err;
  }
}
