// Secrets and authenticators are compared in constant time so that timing
// does not reveal how many leading bytes matched.
import { timingSafeEqual } from 'node:crypto';

export function secretsEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}
