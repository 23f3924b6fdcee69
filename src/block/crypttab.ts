// The boot-time configuration for a volume on a target root: an /etc/crypttab
// line so systemd-cryptsetup (or Debian's cryptsetup-initramfs) unlocks it by
// UUID, and an /etc/fstab line that mounts the mapped device. Lines for the
// same name / mount point are replaced, so running it again is harmless.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../os/atomic-file.js';
import { UsageError } from '../errors.js';

export interface CrypttabRequest {
  targetRoot: string;
  name: string;
  uuid: string;
  mountpoint?: string;
  fstype: string;
  /** crypttab options (default luks,discard) */
  options?: string;
}

export function crypttabLine(r: CrypttabRequest): string {
  return `${r.name} UUID=${r.uuid} none ${r.options ?? 'luks,discard'}`;
}

export function fstabLine(r: CrypttabRequest): string | null {
  if (!r.mountpoint) return null;
  const pass = r.mountpoint === '/' ? 1 : 2;
  return `/dev/mapper/${r.name} ${r.mountpoint} ${r.fstype} defaults 0 ${pass}`;
}

function replaceLine(text: string, keep: (fields: string[]) => boolean, line: string): string {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const out = lines.filter((l) => {
    const t = l.trim();
    if (!t || t.startsWith('#')) return true;
    return keep(t.split(/\s+/));
  });
  out.push(line);
  return `${out.join('\n')}\n`;
}

function update(path: string, keep: (fields: string[]) => boolean, line: string): void {
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const mode = existsSync(path) ? statSync(path).mode & 0o777 : 0o644;
  writeFileAtomic(path, Buffer.from(replaceLine(old, keep, line)), { mode });
}

/** Writes the lines into ROOT/etc/crypttab and ROOT/etc/fstab; returns what it wrote. */
export function writeCrypttab(r: CrypttabRequest): { crypttab: string; fstab: string | null } {
  if (!existsSync(r.targetRoot) || !statSync(r.targetRoot).isDirectory()) throw new UsageError(`--target ${r.targetRoot} is not a directory`);
  if (r.mountpoint && !r.mountpoint.startsWith('/')) throw new UsageError('--mount must be an absolute path inside the target');
  if (/\s/.test(r.options ?? '') || /\s/.test(r.mountpoint ?? '')) throw new UsageError('options and mount point may not contain spaces');
  const etc = join(r.targetRoot, 'etc');
  mkdirSync(etc, { recursive: true, mode: 0o755 });
  const ct = crypttabLine(r);
  update(join(etc, 'crypttab'), (f) => f[0] !== r.name, ct);
  const fs = fstabLine(r);
  if (fs) update(join(etc, 'fstab'), (f) => f[1] !== r.mountpoint && f[0] !== `/dev/mapper/${r.name}`, fs);
  return { crypttab: ct, fstab: fs };
}
