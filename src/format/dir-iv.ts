// The per-directory IV of format 2 (docs/FORMAT-FILES.md): every lower
// directory of an encrypted-names volume, the root included, holds the file
// homecrypt.diriv = iv (16 random bytes) || tag (16), tag = the SIV of the
// IV under the name keys (domain "diriv"). Names in the directory are sealed
// with its IV as context, so equal names in different directories differ and
// an entry moved to another directory no longer authenticates there. A plain
// file (not an xattr), so cp -a, rsync -a, tar and cloud sync carry it; the
// '.' keeps it outside the encrypted-name alphabet. The tag only tells a made
// up or damaged file from a real one: a real one copied from another
// directory authenticates, and then its directory's names do not.
import { CorruptFileError } from '../errors.js';
import { RandomPool } from '../crypto/random-pool.js';
import { secretsEqual } from '../crypto/constant-time.js';
import { SIV_BYTES, siv, type NameKeys } from './names.js';

export const DIR_IV_NAME = 'homecrypt.diriv';
export const DIR_IV_BYTES = 16;
export const DIR_IV_FILE_BYTES = DIR_IV_BYTES + SIV_BYTES;
/** A directory being made (it gets its IV file before its name): `homecrypt.mkdir~` + 16 hex. */
export const MKDIR_TEMP_PREFIX = 'homecrypt.mkdir~';

/** New directories' IVs (random-pool.ts: one CSPRNG call per 64 mkdirs). */
const fresh = new RandomPool(64 * DIR_IV_BYTES);

export function newDirIv(): Buffer {
  return fresh.take(DIR_IV_BYTES);
}

export function sealDirIv(keys: NameKeys, iv: Buffer): Buffer {
  return Buffer.concat([iv, siv(keys, 'diriv', iv)]);
}

/** The IV of a directory IV file's content (null: the file is missing); `where` names the file in errors. */
export function openDirIv(keys: NameKeys, content: Buffer | null, where: string): Buffer {
  if (content === null) throw new CorruptFileError(where, `${DIR_IV_NAME} is missing (its directory's names cannot be read)`);
  if (content.length !== DIR_IV_FILE_BYTES) throw new CorruptFileError(where, `${DIR_IV_NAME} has ${content.length} bytes, not ${DIR_IV_FILE_BYTES}`);
  const iv = content.subarray(0, DIR_IV_BYTES);
  if (!secretsEqual(siv(keys, 'diriv', iv), content.subarray(DIR_IV_BYTES))) {
    throw new CorruptFileError(where, `${DIR_IV_NAME} failed authentication`);
  }
  return Buffer.from(iv);
}
