// The OS-installer step: puts homecrypt into a target root and configures it,
// in an order that keeps the installed system bootable and its users able to
// log in whatever fails: the PAM stack is snapshotted before anything changes
// and restored if any step fails; every step is idempotent, so re-running after
// a fix completes what is missing and changes nothing that is already right.
import { lstatSync, symlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HomecryptError } from '../errors.js';
import type { Answers } from './answers.js';
import { reason, type StepContext } from './context.js';
import { InTarget } from './in-target.js';
import { INSTALL_LOG, InstallLog } from './install-log.js';
import { PAM_PROFILE, PAM_STATE_DIRS, PamSnapshot } from './pam-snapshot.js';
import { choosePackageSource, installPackage } from './package-step.js';
import { installSystemdUnits } from './systemd-step.js';
import { enablePam } from './pam-step.js';
import { createEncryptedHome } from './home-step.js';
import { configureBlock } from './block-step.js';
import { checkTargetNeeds, checkTargetShape } from './target-checks.js';

/**
 * FUSE's tools (fusermount of libfuse2) need /etc/mtab. A booted Debian has it
 * (systemd-tmpfiles links it to ../proc/self/mounts); a freshly unpacked root
 * may not yet, and setup mounts and unmounts in it now. Make the same link.
 */
function ensureMtab(ctx: StepContext): void {
  const mtab = ctx.target.entryPath('/etc/mtab');
  try {
    lstatSync(mtab);
  } catch {
    symlinkSync('../proc/self/mounts', mtab);
    ctx.log.write('chroot', 'linked /etc/mtab -> ../proc/self/mounts (as systemd-tmpfiles does at boot)');
  }
}

/** The root of this homecrypt's files: the checkout, or /usr/lib/homecrypt. */
export function homecryptSourceRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../..');
}

export interface InstallOptions {
  root: string;
  answers: Answers;
  /** The caller wipes it once this returns. */
  passphrase: Buffer | null;
  say?: (line: string) => void;
  sourceRoot?: string;
}

export interface InstallResult {
  log: string;
}

export async function installIntoTarget(opts: InstallOptions): Promise<InstallResult> {
  const say = opts.say ?? ((l: string) => process.stderr.write(`${l}\n`));
  const target = new InTarget(opts.root);
  checkTargetShape(opts.root, target);
  const log = new InstallLog(target.path(INSTALL_LOG));
  const ctx: StepContext = {
    target,
    log,
    answers: opts.answers,
    passphrase: opts.passphrase,
    sourceRoot: opts.sourceRoot ?? homecryptSourceRoot(),
    say,
  };
  log.write(
    'start',
    `homecrypt install into ${target.root}: encryptHome=${opts.answers.encryptHome}` +
      ` user=${opts.answers.user ?? '-'} block=${opts.answers.block ? opts.answers.block.device : 'no'} package=${opts.answers.package}`,
  );

  const mounted = target.enter();
  log.write('chroot', mounted.length ? `mounted ${mounted.join(', ')} into the target` : 'the target already has /proc, /sys and /dev mounted; using them');
  let failure: unknown = null;
  let pam: PamSnapshot | null = null;
  // Interrupted (Ctrl-C, a killed installer): stop at the next step boundary,
  // and still roll PAM back and unmount, which an exit from the handler would skip.
  let interrupted: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (!interrupted) say(`${sig}: stopping; the PAM configuration will be restored`);
    interrupted = sig;
    target.interrupt(sig);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  const step = async (fn: () => Promise<void>) => {
    if (interrupted) throw new HomecryptError(`interrupted by ${interrupted}`);
    await fn();
    if (interrupted) throw new HomecryptError(`interrupted by ${interrupted}`);
  };
  try {
    const src = await choosePackageSource(ctx);
    // A copied build's profile is ours to take back; a .deb's belongs to dpkg.
    const pamPaths = [...PAM_STATE_DIRS, ...(src.kind === 'copy' ? [PAM_PROFILE] : [])];
    pam = PamSnapshot.take(pamPaths.map((d) => target.path(d)));
    await step(() => checkTargetNeeds(ctx, src));
    await step(() => installPackage(ctx, src));
    await step(async () => {
      const v = await target.run(['homecrypt', '--version']);
      if (v.code !== 0) throw new HomecryptError(`homecrypt does not run in the target after installing it: ${reason(v.stderr, v.code)}`);
      log.write('package', `homecrypt ${v.stdout.trim()} runs in the target`);
    });
    await step(() => installSystemdUnits(ctx, src.kind !== 'copy'));
    await step(async () => ensureMtab(ctx));
    await step(() => enablePam(ctx));
    await step(() => createEncryptedHome(ctx));
    await step(() => configureBlock(ctx));
    log.write('done', 'the installer step completed');
  } catch (err) {
    failure =
      interrupted && !(err as Error).message.startsWith('interrupted by')
        ? new HomecryptError(`interrupted by ${interrupted} (${(err as Error).message})`)
        : err;
    const changed = pam ? pam.changes(target.root) : [];
    if (pam && changed.length) {
      pam.restore();
      const still = pam.changes(target.root);
      log.write(
        'rollback',
        still.length
          ? `PAM restore incomplete, still different: ${still.join(', ')}`
          : `PAM configuration restored as it was before this run (${changed.join(', ')})`,
      );
      say(`rolled back the PAM configuration of the target (${changed.length} file${changed.length > 1 ? 's' : ''})`);
    }
    log.write('failed', (failure as Error).message);
  } finally {
    const { unmounted, failed } = target.leave();
    if (unmounted.length) log.write('chroot', `unmounted ${unmounted.join(', ')}`);
    if (failed.length) log.write('chroot', `could not unmount ${failed.join(', ')}`);
    for (const s of signals) process.off(s, onSignal);
  }
  if (failure) throw failure;
  return { log: target.path(INSTALL_LOG) };
}
