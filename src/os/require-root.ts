// The one check that a command runs as root, made before any prompt.
import { PermissionDeniedError } from '../errors.js';

export function requireRoot(what: string): void {
  if (process.geteuid?.() !== 0) throw new PermissionDeniedError(`${what} must run as root`);
}
