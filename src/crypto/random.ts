// All randomness comes from the OS CSPRNG through Node (getrandom(2)).
import { randomBytes } from 'node:crypto';

export function randomKey(bytes = 32): Buffer {
  return randomBytes(bytes);
}

export { randomBytes };
