// Installs homecrypt's systemd units into the target and enables the ones
// meant to be enabled (those with an [Install] section that are not templates;
// templates are instantiated per user by the login flow). systemctl enable
// works offline in a chroot; a target without systemd gets the unit files only.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HomecryptError } from '../errors.js';
import { reason, runLogged, type StepContext } from './context.js';

const STEP = 'systemd';
const UNIT_DIR = '/lib/systemd/system';
const UNIT_RE = /\.(service|socket|target|mount|automount|timer|path)$/;

/** Unit files this homecrypt ships: from the package (when dpkg installed it) or from the build. */
function shippedUnits(ctx: StepContext, fromDeb: boolean): Map<string, Buffer> {
  const units = new Map<string, Buffer>();
  if (fromDeb) return units; // dpkg already put them in place
  const dir = join(ctx.sourceRoot, 'systemd');
  if (!existsSync(dir)) return units;
  for (const n of readdirSync(dir).sort()) if (UNIT_RE.test(n)) units.set(n, readFileSync(join(dir, n)));
  return units;
}

export async function installSystemdUnits(ctx: StepContext, fromDeb: boolean): Promise<void> {
  const units = shippedUnits(ctx, fromDeb);
  const dir = ctx.target.path(UNIT_DIR);
  if (units.size) mkdirSync(dir, { recursive: true });
  for (const [name, data] of units) {
    const p = join(dir, name);
    if (existsSync(p) && readFileSync(p).equals(data)) continue;
    writeFileSync(p, data, { mode: 0o644 });
    ctx.log.write(STEP, `installed ${UNIT_DIR}/${name}`);
  }
  // What to enable: every homecrypt unit now in the target with an [Install] section.
  const present = existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('homecrypt') && UNIT_RE.test(n)) : [];
  const enable = present.filter((n) => !n.includes('@.') && /^\s*\[Install\]/m.test(readFileSync(join(dir, n), 'utf8')));
  if (!present.length) {
    ctx.log.write(STEP, 'this build ships no systemd units; nothing to install');
    return;
  }
  if (!enable.length) return;
  if (!ctx.target.has('systemctl')) {
    ctx.log.write(STEP, `systemctl is not in the target (no systemd): units installed, not enabled: ${enable.join(', ')}`);
    return;
  }
  const r = await runLogged(ctx, STEP, ['systemctl', 'enable', ...enable]);
  if (r.code !== 0) throw new HomecryptError(`systemctl enable ${enable.join(' ')} in the target failed (exit ${r.code}): ${reason(r.stderr, r.code)}`);
  ctx.log.write(STEP, `enabled ${enable.join(', ')}`);
}
