// Puts homecrypt itself into the target. The Debian way first: the .deb
// installed by apt inside the chroot, so dpkg owns the files and upgrades work.
// Without a .deb, the build this command runs from is copied to
// /usr/lib/homecrypt (production dependencies only) with /usr/bin/homecrypt.
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  copyFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { HomecryptError, MissingFeatureError } from '../errors.js';
import { reason, runLogged, type StepContext } from './context.js';

const STEP = 'package';
export const COPY_DIR = '/usr/lib/homecrypt';
const STAMP = '.homecrypt-install-stamp';

function newestMtime(dir: string): number {
  let newest = 0;
  const walk = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
    else newest = Math.max(newest, st.mtimeMs);
  };
  if (existsSync(dir)) walk(dir);
  return newest;
}

/**
 * The .deb built from this very build (./run package puts it in build/), or
 * null. A .deb older than the compiled code is a stale one from before the
 * last change: installing it would put other code into the target than the
 * code running this step, so it is passed over (and the reason logged).
 */
export function findDeb(sourceRoot: string): { deb: string | null; stale: string | null } {
  for (const dir of [join(sourceRoot, 'build'), sourceRoot]) {
    if (!existsSync(dir)) continue;
    const debs = readdirSync(dir)
      .filter((f) => /^homecrypt_.*\.deb$/.test(f))
      .map((f) => join(dir, f))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
    if (!debs.length) continue;
    const built = newestMtime(join(sourceRoot, 'dist'));
    return statSync(debs[0]).mtimeMs >= built ? { deb: debs[0], stale: null } : { deb: null, stale: debs[0] };
  }
  return { deb: null, stale: null };
}

export type PackageSource = { kind: 'deb'; deb: string } | { kind: 'copy' } | { kind: 'dpkg-installed'; version: string };

/** Decides how homecrypt gets into the target (no change is made). */
export async function choosePackageSource(ctx: StepContext): Promise<PackageSource> {
  const want = ctx.answers.package;
  const q = await ctx.target.run(['dpkg-query', '-W', '-f=${Status} ${Version}', 'homecrypt']);
  const installed = q.code === 0 && q.stdout.startsWith('install ok installed') ? (q.stdout.split(' ').pop() ?? '') : null;
  if (want === 'copy') return { kind: 'copy' };
  if (want !== 'auto') {
    if (!existsSync(want)) throw new MissingFeatureError(`answers: "package" names ${want}, which does not exist`);
    return { kind: 'deb', deb: want };
  }
  const found = findDeb(ctx.sourceRoot);
  if (found.stale) ctx.log.write(STEP, `${found.stale} is older than this build (rebuild it with ./run package); not used`);
  if (found.deb) return { kind: 'deb', deb: found.deb };
  if (installed) return { kind: 'dpkg-installed', version: installed };
  return { kind: 'copy' };
}

export async function installPackage(ctx: StepContext, src: PackageSource): Promise<void> {
  if (src.kind === 'dpkg-installed') {
    ctx.log.write(STEP, `homecrypt ${src.version} is already installed by dpkg in the target; kept`);
    return;
  }
  if (src.kind === 'deb') return installDeb(ctx, src.deb);
  return copyBuild(ctx);
}

async function installDeb(ctx: StepContext, deb: string): Promise<void> {
  const cacheDir = ctx.target.path('/var/cache/homecrypt-install');
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const inside = `/var/cache/homecrypt-install/${basename(deb)}`;
  copyFileSync(deb, ctx.target.path(inside));
  // As every installer chroot does: packages must not start services here.
  const policy = ctx.target.path('/usr/sbin/policy-rc.d');
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    ctx.say(`installing ${basename(deb)} into the target with apt`);
    const r = await runLogged(ctx, STEP, ['apt-get', 'install', '-y', '-q', '--no-install-recommends', inside], { timeoutMs: 20 * 60_000 });
    if (r.code !== 0) {
      throw new HomecryptError(`apt-get install of ${basename(deb)} in the target failed (exit ${r.code}): ${reason(`${r.stdout}\n${r.stderr}`, r.code)}`);
    }
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
  ctx.log.write(STEP, `installed ${basename(deb)} with apt`);
}

/** Production packages from package-lock.json (lockfile v2/v3), or all of node_modules. */
function productionModules(sourceRoot: string): string[] {
  const lockFile = join(sourceRoot, 'package-lock.json');
  if (!existsSync(lockFile)) {
    const nm = join(sourceRoot, 'node_modules');
    return existsSync(nm) ? ['node_modules'] : [];
  }
  const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as { packages?: Record<string, { dev?: boolean; link?: boolean }> };
  return Object.entries(lock.packages ?? {})
    .filter(([k, v]) => k.startsWith('node_modules/') && !v.dev && !v.link && existsSync(join(sourceRoot, k)))
    .map(([k]) => k);
}

function treeHash(sourceRoot: string, parts: string[]): string {
  const h = createHash('sha256');
  const walk = (rel: string) => {
    const p = join(sourceRoot, rel);
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const n of readdirSync(p).sort()) if (!(rel.startsWith('node_modules') && n === 'node_modules')) walk(join(rel, n));
    } else if (st.isFile()) {
      h.update(`${rel}\0${st.size}\0${st.mode & 0o777}\0`);
      h.update(readFileSync(p));
    }
  };
  for (const part of parts) if (existsSync(join(sourceRoot, part))) walk(part);
  return h.digest('hex');
}

async function copyBuild(ctx: StepContext): Promise<void> {
  const src = ctx.sourceRoot;
  if (!existsSync(join(src, 'dist/cli/main.js'))) {
    throw new MissingFeatureError(`no .deb and no build to copy: ${join(src, 'dist')} is missing (run ./run build or ./run package)`);
  }
  const modules = productionModules(src);
  const parts = ['package.json', 'bin', 'dist', 'pam', 'systemd', ...modules];
  const stamp = treeHash(src, parts);
  const dest = ctx.target.path(COPY_DIR);
  const stampFile = join(dest, STAMP);
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === stamp) {
    ctx.log.write(STEP, `${COPY_DIR} already holds this build (${stamp.slice(0, 12)}); kept`);
  } else {
    ctx.say(`copying homecrypt into the target at ${COPY_DIR}`);
    // Build beside and swap, so a re-run after a failure never sees half a copy.
    const tmp = `${dest}.new`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true, mode: 0o755 });
    for (const part of parts) {
      const from = join(src, part);
      if (!existsSync(from)) continue;
      cpSync(from, join(tmp, part), {
        recursive: true,
        dereference: false,
        // nested node_modules are copied as their own lock entries (dev ones are left out)
        filter: (f) => !(f !== from && part.startsWith('node_modules') && basename(f) === 'node_modules') && !f.endsWith('/.bin'),
      });
    }
    writeFileSync(join(tmp, STAMP), `${stamp}\n`);
    const old = `${dest}.old`;
    rmSync(old, { recursive: true, force: true });
    if (existsSync(dest)) renameSync(dest, old);
    renameSync(tmp, dest);
    rmSync(old, { recursive: true, force: true });
    ctx.log.write(STEP, `copied this build to ${COPY_DIR} (${modules.length} production modules, stamp ${stamp.slice(0, 12)})`);
  }
  const bin = ctx.target.entryPath('/usr/bin/homecrypt');
  const linkTo = `${COPY_DIR}/bin/homecrypt`;
  let current: string | null = null;
  try {
    current = readlinkSync(bin);
  } catch {
    /* absent or not a link */
  }
  if (current !== linkTo) {
    rmSync(bin, { force: true });
    symlinkSync(linkTo, bin);
    ctx.log.write(STEP, `linked /usr/bin/homecrypt -> ${linkTo}`);
  }
}
