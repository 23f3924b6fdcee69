// What the target must have before the installer changes anything. All that
// is missing is reported at once, each item with the Debian package that
// provides it, so the operator fixes the target in one go.
import { existsSync } from 'node:fs';
import { MissingFeatureError, RefusedError } from '../errors.js';
import type { StepContext } from './context.js';
import type { PackageSource } from './package-step.js';
import { targetUser } from './target-users.js';
import { holdsLuks } from './block-step.js';

/** The first check of all: a --target that is not there at all. */
export function checkTargetExists(root: string): void {
  if (!existsSync(root)) throw new RefusedError(`--target ${root}: no such directory`);
}

/** Checks that need no chroot: is this a system root at all? */
export function checkTargetShape(root: string, target: { path(p: string): string }): void {
  checkTargetExists(root);
  const missing = ['/etc/passwd', '/bin/sh', '/usr/bin'].filter((p) => !existsSync(target.path(p)));
  if (missing.length) {
    throw new RefusedError(`--target ${root} is not the root of an installed system: it lacks ${missing.join(', ')}`);
  }
}

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib', '/lib'];

function hasLib(ctx: StepContext, rel: string): boolean {
  return LIB_DIRS.some((d) => existsSync(ctx.target.path(`${d}/${rel}`)));
}

/** Everything the chosen steps need, checked inside the target before any change. */
export async function checkTargetNeeds(ctx: StepContext, src: PackageSource): Promise<void> {
  const missing: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) missing.push(what);
  };
  const { answers } = ctx;

  if (src.kind === 'deb') {
    need(ctx.target.has('apt-get') && ctx.target.has('dpkg'), 'apt-get and dpkg (Debian packages apt, dpkg) to install the .deb');
  } else {
    // The copied build runs on the target's own Node.
    const v = ctx.target.has('node') ? await ctx.target.run(['node', '--version']) : null;
    const major = v && v.code === 0 ? Number(/^v(\d+)\./.exec(v.stdout.trim())?.[1] ?? 0) : 0;
    need(major >= 18, `node >= 18 (Debian package nodejs)${v && v.code === 0 ? `; the target has ${v.stdout.trim()}` : ''}`);
    need(hasLib(ctx, 'libfuse.so.2'), 'libfuse.so.2 (Debian package libfuse2)');
  }
  need(ctx.target.has('pam-auth-update'), 'pam-auth-update (Debian package libpam-runtime)');
  need(hasLib(ctx, 'security/pam_exec.so'), 'pam_exec.so (Debian package libpam-modules)');

  if (answers.encryptHome !== 'no' && answers.user !== null) {
    // A .deb brings fuse3 through its dependencies; a copied build does not.
    if (src.kind !== 'deb')
      need(ctx.target.has('fusermount3') || ctx.target.has('fusermount'), 'fusermount3 (Debian package fuse3) to mount the encrypted home');
    const exists = targetUser(ctx.target, answers.user) !== null;
    if (!exists && !answers.createUser) {
      missing.push(`the account ${answers.user} (create it first, or answer "createUser": true)`);
    }
    if (!exists && answers.createUser) {
      need(ctx.target.has('useradd') && ctx.target.has('chpasswd'), 'useradd and chpasswd (Debian package passwd) to create the account');
    }
  }
  if (answers.block) {
    const b = answers.block;
    need(ctx.target.has('cryptsetup'), 'cryptsetup (Debian package cryptsetup) to unlock the encrypted volume at boot');
    const host = ctx.target.path(b.device);
    if (!existsSync(host)) missing.push(`the block device ${b.device} (answer "block.device")`);
    else if (!b.format && !holdsLuks(host))
      missing.push(`a LUKS volume on ${b.device} (it holds none; answer "block.format": true to create one, destroying what it holds)`);
    if (b.format) need(ctx.target.has(`mkfs.${b.filesystem}`), `mkfs.${b.filesystem} (Debian package e2fsprogs) to create the filesystem`);
  }
  if (missing.length) {
    throw new MissingFeatureError(`the target ${ctx.target.root} lacks what the installer step needs:\n  - ${missing.join('\n  - ')}`);
  }
}
