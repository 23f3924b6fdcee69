// One rule for every new passphrase homecrypt asks for (init, key create,
// setup, rewrap, new slots, the installer): long enough that the KDF is not
// the only thing between an attacker and the key. Block volumes follow
// cryptsetup, which leaves the choice to the administrator.
import { UsageError } from '../errors.js';

export const MIN_PASSPHRASE_CHARS = 8;

/** Why `secret` is not acceptable as a new passphrase, or null. */
export function passphraseProblem(secret: Buffer | string): string | null {
  const text = typeof secret === 'string' ? secret : secret.toString('utf8');
  if (text.length === 0) return 'an empty passphrase is not allowed';
  if ([...text].length < MIN_PASSPHRASE_CHARS) return `a passphrase needs at least ${MIN_PASSPHRASE_CHARS} characters`;
  return null;
}

export function checkNewPassphrase(secret: Buffer): void {
  const why = passphraseProblem(secret);
  if (why) throw new UsageError(why);
}
