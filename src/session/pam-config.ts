// The PAM lines homecrypt ships (pam/) rendered for this installation, and
// their installation as a Debian pam-auth-update profile.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MissingFeatureError, HomecryptError } from '../errors.js';
import { writeFileAtomic } from '../os/atomic-file.js';

const PAM_DIR = fileURLToPath(new URL('../../pam/', import.meta.url));
export const HOOK_PATH = `${PAM_DIR}homecrypt-pam-hook`;
export const PROFILE_NAME = 'homecrypt';
export const PROFILE_PATH = `/usr/share/pam-configs/${PROFILE_NAME}`;

function render(template: string, hook: string): string {
  if (/\s/.test(hook)) throw new HomecryptError(`PAM cannot run a hook whose path has blanks: ${hook}`);
  return readFileSync(`${PAM_DIR}${template}`, 'utf8').replaceAll('@HOOK@', hook);
}

/** The pam-auth-update profile for this installation. */
export function renderProfile(hook = HOOK_PATH): string {
  return render('homecrypt.pam-auth-update', hook);
}

/** The plain stack lines (auth, session, password) for this installation. */
export function renderStackLines(hook = HOOK_PATH): string {
  return render('homecrypt.pam', hook);
}

function pamAuthUpdate(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('pam-auth-update', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }, (err, _o, stderr) => {
      if (err) reject(new HomecryptError(`pam-auth-update ${args.join(' ')} failed: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

function requirePamAuthUpdate(): void {
  if (!existsSync('/usr/sbin/pam-auth-update')) {
    throw new MissingFeatureError('pam-auth-update is not installed (Debian package libpam-runtime); on other systems add the lines of docs/PAM.md by hand');
  }
}

/**
 * True when an installed Debian package ships the profile: then the file is
 * dpkg's, and we switch it on and off with pam-auth-update instead of writing
 * or deleting it (a deleted file would come back, enabled, at the next upgrade).
 */
function profileFromPackage(): boolean {
  return spawnSync('dpkg-query', ['-S', PROFILE_PATH], { stdio: 'ignore' }).status === 0;
}

export async function enablePam(): Promise<string> {
  requirePamAuthUpdate();
  if (!profileFromPackage()) writeFileAtomic(PROFILE_PATH, Buffer.from(renderProfile()), { mode: 0o644 });
  await pamAuthUpdate(['--package', '--enable', PROFILE_NAME]);
  return PROFILE_PATH;
}

export async function disablePam(): Promise<void> {
  requirePamAuthUpdate();
  if (!existsSync(PROFILE_PATH)) return;
  if (profileFromPackage()) {
    // recorded as seen-and-off, so the package's upgrades keep it off
    await pamAuthUpdate(['--disable', PROFILE_NAME]);
    return;
  }
  await pamAuthUpdate(['--package', '--remove', PROFILE_NAME]);
  unlinkSync(PROFILE_PATH);
}

/** True when the system's common-* stacks call our hook. */
export function pamEnabled(): boolean {
  try {
    return readFileSync('/etc/pam.d/common-auth', 'utf8').includes('homecrypt-pam-hook');
  } catch {
    return false;
  }
}
