// Block mode: the volume named in the answers is formatted in the LUKS2 format
// when asked (never when it already holds one: a re-run must not destroy it),
// and the target's /etc/crypttab and /etc/fstab get the lines that unlock and
// mount it at boot, through `homecrypt block` run inside the chroot.
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { HomecryptError, UsageError } from '../errors.js';
import { reason, runLogged, secretLine, type StepContext } from './context.js';
import { deliverRecoveryOutput } from './recovery-output.js';

const STEP = 'block';
const LUKS_MAGIC = Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]);

export function holdsLuks(hostPath: string): boolean {
  let fd = -1;
  try {
    fd = openSync(hostPath, 'r');
    const b = Buffer.alloc(6);
    return readSync(fd, b, 0, 6, 0) === 6 && b.equals(LUKS_MAGIC);
  } catch {
    return false;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

function crypttabHas(ctx: StepContext, name: string): boolean {
  const p = ctx.target.path('/etc/crypttab');
  return (
    existsSync(p) &&
    readFileSync(p, 'utf8')
      .split('\n')
      .some((l) => l.trim().split(/\s+/)[0] === name)
  );
}

export async function configureBlock(ctx: StepContext): Promise<void> {
  const b = ctx.answers.block;
  if (!b) return;
  if (b.format) {
    if (!b.device.startsWith('/')) throw new UsageError(`answers: "block.device" must be a path when "block.format" is true (got ${b.device})`);
    const host = ctx.target.path(b.device);
    if (!existsSync(host)) throw new HomecryptError(`answers: "block.device" ${b.device} does not exist in the target`);
    if (holdsLuks(host)) {
      ctx.log.write(STEP, `${b.device} already holds a LUKS volume; not formatted again`);
    } else {
      const argv = ['homecrypt', 'block', 'format', b.device, '--mkfs', b.filesystem, '--recovery', '--passphrase-fd', '3'];
      if (ctx.answers.kdfTime !== null) argv.push('--kdf-time', String(ctx.answers.kdfTime));
      ctx.say(`formatting ${b.device} (LUKS2, ${b.filesystem})`);
      // Its stdout shows the volume's recovery key: to the operator, not the log.
      const fd3 = secretLine(ctx.passphrase);
      const r = await ctx.target.run(argv, { fd3, timeoutMs: 4 * 3600_000 }).finally(() => fd3.fill(0));
      ctx.log.command(STEP, argv, r.code, r.stderr);
      if (r.code !== 0) throw new HomecryptError(`homecrypt block format ${b.device} failed (exit ${r.code}): ${reason(r.stderr, r.code)}`);
      deliverRecoveryOutput(ctx, STEP, r.stdout);
      ctx.log.write(STEP, `formatted ${b.device} (LUKS2 with a recovery slot, ${b.filesystem} inside)`);
    }
  }
  if (crypttabHas(ctx, b.name)) {
    ctx.log.write(STEP, `/etc/crypttab already has ${b.name}; left as it is`);
    return;
  }
  const argv = ['homecrypt', 'block', 'crypttab', b.device, b.name, '--target', '/'];
  if (b.mountPoint) argv.push('--mount', b.mountPoint, '--fstype', b.filesystem);
  const r = await runLogged(ctx, STEP, argv);
  if (r.code !== 0) throw new HomecryptError(`homecrypt block crypttab failed in the target (exit ${r.code}): ${reason(r.stderr, r.code)}`);
  if (!crypttabHas(ctx, b.name)) throw new HomecryptError(`after homecrypt block crypttab, the target's /etc/crypttab has no line for ${b.name}`);
  ctx.log.write(STEP, `/etc/crypttab${b.mountPoint ? ' and /etc/fstab' : ''} now open ${b.device} as ${b.name}${b.mountPoint ? ` on ${b.mountPoint}` : ''}`);
}
