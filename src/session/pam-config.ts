// The PAM lines homecrypt ships (pam/) rendered for this installation, and
// their installation as a Debian pam-auth-update profile. Two flavours: the
// module pam_homecrypt.so (the default), and pam_exec.so running the same hook
// (the fallback where a module cannot be installed; docs/PAM.md).
import { existsSync, readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MissingFeatureError, HomecryptError, RefusedError } from '../errors.js';
import { writeFileAtomic } from '../os/atomic-file.js';
import { runCommand, runCommandSync } from '../os/processes.js';

const PAM_DIR = fileURLToPath(new URL('../../pam/', import.meta.url));
export const HOOK_PATH = `${PAM_DIR}homecrypt-pam-hook`;
export const PROFILE_NAME = 'homecrypt';
export const PROFILE_PATH = `/usr/share/pam-configs/${PROFILE_NAME}`;
/** The pam_exec fallback's profile: never shipped by the package, written by `pam enable --exec`. */
export const EXEC_PROFILE_NAME = 'homecrypt-exec';
const EXEC_PROFILE_PATH = `/usr/share/pam-configs/${EXEC_PROFILE_NAME}`;

export type PamFlavour = 'module' | 'exec';

/**
 * How the lines name the module: the checkout's build (dist/pam/, by absolute
 * path) when there is one, else its bare name, which PAM finds in the system's
 * security directory where the package installs it.
 */
export function modulePath(): string {
  const built = fileURLToPath(new URL('../pam/pam_homecrypt.so', import.meta.url));
  return existsSync(built) ? built : 'pam_homecrypt.so';
}

function render(template: string, hook: string, module = modulePath()): string {
  if (/\s/.test(hook)) throw new HomecryptError(`PAM cannot run a hook whose path has blanks: ${hook}`);
  if (/\s/.test(module)) throw new HomecryptError(`PAM cannot load a module whose path has blanks: ${module}`);
  return readFileSync(`${PAM_DIR}${template}`, 'utf8').replaceAll('@HOOK@', hook).replaceAll('@MODULE@', module);
}

const suffix = (flavour: PamFlavour) => (flavour === 'exec' ? '-exec' : '');

/** The pam-auth-update profile for this installation. */
export function renderProfile(hook = HOOK_PATH, flavour: PamFlavour = 'module', module?: string): string {
  return render(`homecrypt${suffix(flavour)}.pam-auth-update`, hook, module);
}

/** The plain stack lines (auth, session, password) for this installation. */
export function renderStackLines(hook = HOOK_PATH, flavour: PamFlavour = 'module', module?: string): string {
  return render(`homecrypt${suffix(flavour)}.pam`, hook, module);
}

async function pamAuthUpdate(args: string[]): Promise<void> {
  const r = await runCommand(['pam-auth-update', ...args], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.code !== 0) throw new HomecryptError(`pam-auth-update ${args.join(' ')} failed: ${r.stderr.trim() || `exit status ${r.code ?? r.signal}`}`);
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
  try {
    return runCommandSync(['dpkg-query', '-S', PROFILE_PATH]).code === 0;
  } catch {
    return false; // no dpkg here
  }
}

/**
 * The PAM services of `pamDir` that let a user set the PAM environment
 * (pam_env.so user_readenv=1 reads ~/.pam_environment; Debian's sshd has it).
 * pam_exec.so hands that environment to the root hook it starts, so a user's
 * LD_PRELOAD there runs as root inside /bin/sh before any homecrypt code.
 */
export function servicesReadingUserEnv(pamDir = '/etc/pam.d'): string[] {
  const found: string[] = [];
  let names: string[];
  try {
    names = readdirSync(pamDir);
  } catch {
    return found;
  }
  for (const name of names.sort()) {
    let text: string;
    try {
      text = readFileSync(join(pamDir, name), 'utf8');
    } catch {
      continue;
    }
    const hit = text.split('\n').some((line) => {
      const code = line.replace(/#.*$/, '');
      return /\bpam_env\.so\b/.test(code) && /\buser_readenv=1\b/.test(code);
    });
    if (hit) found.push(join(pamDir, name));
  }
  return found;
}

/** Switches the system stacks to the module (default) or to the pam_exec fallback; the other is switched off. */
export async function enablePam(flavour: PamFlavour = 'module'): Promise<string> {
  requirePamAuthUpdate();
  if (flavour === 'exec') {
    const unsafe = servicesReadingUserEnv();
    if (unsafe.length > 0) {
      throw new RefusedError(
        `refusing the pam_exec fallback: ${unsafe.join(', ')} read${unsafe.length === 1 ? 's' : ''} the user's ~/.pam_environment (pam_env.so user_readenv=1), which pam_exec would hand to a hook running as root (a user's LD_PRELOAD would run as root); use the module (homecrypt pam enable), or remove user_readenv=1 from those services first`,
      );
    }
    await disableModuleProfile();
    writeFileAtomic(EXEC_PROFILE_PATH, Buffer.from(renderProfile(HOOK_PATH, 'exec')), { mode: 0o644 });
    await pamAuthUpdate(['--package', '--enable', EXEC_PROFILE_NAME]);
    return EXEC_PROFILE_PATH;
  }
  if (modulePath() === 'pam_homecrypt.so' && !existsSync(INSTALLED_MODULE)) {
    throw new MissingFeatureError(
      `pam_homecrypt.so is neither built (./run build) nor installed in ${INSTALLED_MODULE}; homecrypt pam enable --exec uses pam_exec.so instead`,
    );
  }
  await disableExecProfile();
  if (!profileFromPackage()) writeFileAtomic(PROFILE_PATH, Buffer.from(renderProfile()), { mode: 0o644 });
  await pamAuthUpdate(['--package', '--enable', PROFILE_NAME]);
  return PROFILE_PATH;
}

/** Where the Debian package installs the module (the multiarch security directory). */
export const INSTALLED_MODULE = '/lib/x86_64-linux-gnu/security/pam_homecrypt.so';

async function disableModuleProfile(): Promise<void> {
  if (!existsSync(PROFILE_PATH)) return;
  if (profileFromPackage()) {
    // recorded as seen-and-off, so the package's upgrades keep it off
    await pamAuthUpdate(['--disable', PROFILE_NAME]);
    return;
  }
  await pamAuthUpdate(['--package', '--remove', PROFILE_NAME]);
  unlinkSync(PROFILE_PATH);
}

async function disableExecProfile(): Promise<void> {
  if (!existsSync(EXEC_PROFILE_PATH)) return;
  await pamAuthUpdate(['--package', '--remove', EXEC_PROFILE_NAME]);
  unlinkSync(EXEC_PROFILE_PATH);
}

export async function disablePam(): Promise<void> {
  requirePamAuthUpdate();
  await disableExecProfile();
  await disableModuleProfile();
}

/** True when the system's common-* stacks call homecrypt (the module or the pam_exec hook). */
export function pamEnabled(): boolean {
  try {
    return /pam_homecrypt\.so|homecrypt-pam-hook/.test(readFileSync('/etc/pam.d/common-auth', 'utf8'));
  } catch {
    return false;
  }
}
