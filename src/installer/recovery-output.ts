// Where a recovery key printed by setup or block format goes: to the
// operator's terminal (the default), or appended to the root-only file the
// answers name. Never into the install log.
import { appendFileSync, chmodSync, lstatSync } from 'node:fs';
import { HomecryptError, UnsafePermissionsError } from '../errors.js';
import type { StepContext } from './context.js';

export function deliverRecoveryOutput(ctx: StepContext, step: string, text: string): void {
  const file = ctx.answers.recoveryKeyFile;
  if (file === null) {
    process.stdout.write(text);
    return;
  }
  try {
    let exists = true;
    try {
      const st = lstatSync(file);
      if (!st.isFile() || st.uid !== 0) throw new UnsafePermissionsError(`answers: "recoveryKeyFile" ${file} exists and is not a regular file owned by root`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      exists = false;
    }
    appendFileSync(file, text, { mode: 0o600 });
    chmodSync(file, 0o600);
    ctx.log.write(step, `recovery key ${exists ? 'appended' : 'written'} to ${file} on the installing system (not in the target)`);
  } catch (err) {
    // The key exists only in this output: show it rather than lose it.
    process.stdout.write(text);
    throw new HomecryptError(`could not store the recovery key in ${file} (${(err as Error).message}); it was printed instead`);
  }
}
