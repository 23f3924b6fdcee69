// Enables homecrypt's PAM profile in the target through Debian's
// pam-auth-update, run inside the chroot by `homecrypt pam enable`, then checks
// that the stack really calls homecrypt. The caller holds a PamSnapshot taken
// before anything changed and restores it when this or any later step fails.
import { existsSync, readFileSync } from 'node:fs';
import { HomecryptError } from '../errors.js';
import { reason, runLogged, type StepContext } from './context.js';

const STEP = 'pam';
/** The stack files pam-auth-update writes that homecrypt's profile adds lines to. */
const STACK_FILES = ['/etc/pam.d/common-auth', '/etc/pam.d/common-session', '/etc/pam.d/common-password'];

function stackMentionsHomecrypt(ctx: StepContext): string[] {
  return STACK_FILES.filter((f) => {
    const p = ctx.target.path(f);
    return existsSync(p) && /^[^#]*homecrypt/m.test(readFileSync(p, 'utf8'));
  });
}

export async function enablePam(ctx: StepContext): Promise<void> {
  const before = stackMentionsHomecrypt(ctx);
  const r = await runLogged(ctx, STEP, ['homecrypt', 'pam', 'enable'], { timeoutMs: 120_000 });
  if (r.code !== 0) {
    const why = reason(r.stderr, r.code);
    throw new HomecryptError(`enabling the PAM profile in the target failed (homecrypt pam enable, exit ${r.code}): ${why}`);
  }
  const after = stackMentionsHomecrypt(ctx);
  if (!after.includes('/etc/pam.d/common-auth') || !after.includes('/etc/pam.d/common-session')) {
    throw new HomecryptError(`after pam-auth-update the target's PAM stack does not call homecrypt (checked ${STACK_FILES.join(', ')})`);
  }
  ctx.log.write(
    STEP,
    before.length === after.length ? 'PAM profile already enabled; pam-auth-update left it so' : `PAM profile enabled: ${after.join(', ')} now call homecrypt`,
  );
}
