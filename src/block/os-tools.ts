// The block layer's adapter to system tools: losetup, mount, umount,
// cryptsetup, mkfs. Secrets only ever travel on stdin. The tools that open and
// close volumes run in a session of their own: a Ctrl-C at the terminal reaches
// homecrypt (which stops at its next safe point and undoes a half-done open),
// not a losetup or mount half-way through its work.
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { HomecryptError, MissingFeatureError, MountBusyError } from '../errors.js';
import { runCommand, runCommandSync, type RunResult } from '../os/processes.js';

export class ToolError extends HomecryptError {}

async function tool(cmd: string, args: string[], input?: Buffer, ownSession = false): Promise<string> {
  let r: RunResult;
  try {
    r = await runCommand([cmd, ...args], { input, timeoutMs: 600_000, detached: ownSession });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingFeatureError(`${cmd} is not installed`);
    throw e;
  }
  if (r.code === 0) return r.stdout.replace(/\r?\n$/, '');
  const why = r.stderr.trim().split('\n').slice(-2).join('; ') || (r.signal ? `killed by ${r.signal}` : `exit status ${r.code}`);
  throw new ToolError(`${cmd} ${args[0] ?? ''}: ${why}`);
}

export function losetupAttach(file: string, sectorSize: number): Promise<string> {
  return tool('losetup', ['--find', '--show', '--sector-size', String(sectorSize), file], undefined, true);
}

export async function losetupDetach(dev: string): Promise<void> {
  await tool('losetup', ['--detach', dev], undefined, true);
}

/** The loop device backed by `file`, if any (from sysfs: works even when the file's FUSE server is dead). */
export function loopFor(file: string): string | null {
  let names: string[];
  try {
    names = readdirSync('/sys/block').filter((n) => n.startsWith('loop'));
  } catch {
    return null;
  }
  for (const n of names) {
    try {
      const backing = readFileSync(`/sys/block/${n}/loop/backing_file`, 'utf8').trim();
      if (backing === resolve(file)) return `/dev/${n}`;
    } catch {
      /* not attached */
    }
  }
  return null;
}

export async function mount(dev: string, dir: string, fstype?: string): Promise<void> {
  await tool('mount', [...(fstype ? ['-t', fstype] : []), dev, dir], undefined, true);
}

/** umount(8); a busy mount point is a MountBusyError (exit 8), not a tool failure. */
export async function umount(dir: string, lazy = false): Promise<void> {
  try {
    await tool('umount', [...(lazy ? ['--lazy'] : []), dir], undefined, true);
  } catch (e) {
    if (e instanceof ToolError && /target is busy|device is busy|EBUSY/i.test(e.message)) throw new MountBusyError(dir);
    throw e;
  }
}

export async function mkfs(fstype: string, dev: string, label?: string): Promise<void> {
  if (!/^(ext4|ext3|ext2|xfs|btrfs|vfat)$/.test(fstype)) throw new HomecryptError(`unsupported --mkfs type '${fstype}'`);
  const args = fstype.startsWith('ext') ? ['-q', '-F', ...(label ? ['-L', label] : []), dev] : [...(label ? ['-L', label] : []), dev];
  await tool(`mkfs.${fstype}`, args);
}

/** Mount points (from /proc/self/mountinfo) whose source is `dev` or that are exactly `dir`. */
export function mountsOf(filter: { source?: string; mountPoint?: string }): { mountPoint: string; source: string; fsType: string }[] {
  const unesc = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: { mountPoint: string; source: string; fsType: string }[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const e = { mountPoint: unesc(left[4] ?? ''), fsType: right[0] ?? '', source: unesc(right[1] ?? '') };
    if (filter.source && e.source !== filter.source) continue;
    if (filter.mountPoint && e.mountPoint !== resolve(filter.mountPoint)) continue;
    out.push(e);
  }
  return out;
}

export function cryptsetup(args: string[], secret?: Buffer): Promise<string> {
  return tool('cryptsetup', args, secret, true);
}

export interface Signature {
  type: string;
  offset: string;
  label?: string;
}

/** Every signature blkid's library knows on DEV (filesystems, LUKS, RAID, partition tables), read only: wipefs --no-act. */
export function existingSignatures(dev: string): Signature[] {
  let r: RunResult;
  try {
    r = runCommandSync(['wipefs', '--no-act', '--json', '--', dev]);
  } catch {
    throw new MissingFeatureError('wipefs (util-linux) is needed to look for existing data before formatting');
  }
  if (r.code !== 0) throw new ToolError(`wipefs ${dev}: ${r.stderr.trim() || `exit ${r.code}`}`);
  if (!r.stdout.trim()) return [];
  const parsed = JSON.parse(r.stdout) as { signatures?: { type?: string; offset?: string; label?: string | null }[] };
  return (parsed.signatures ?? []).map((x) => ({ type: String(x.type ?? '?'), offset: String(x.offset ?? '?'), ...(x.label ? { label: x.label } : {}) }));
}
