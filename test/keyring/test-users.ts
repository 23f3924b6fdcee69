// createTestUser, retried: useradd fails with "cannot lock /etc/passwd" while
// another test file of the suite is adding or removing its own user.
import { createTestUser, type TestUser } from '../helpers/users.js';

export function createTestUserRetrying(prefix: string, attempts = 20): TestUser {
  for (let i = 1; ; i++) {
    try {
      return createTestUser(prefix);
    } catch (err) {
      const msg = String((err as { stderr?: unknown }).stderr ?? (err as Error).message);
      if (i >= attempts || !/lock|try again/i.test(msg)) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100 * i);
    }
  }
}
