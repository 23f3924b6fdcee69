// A byte-exact snapshot of the target's PAM configuration, taken before the
// installer changes anything, so that a failure at any later point puts the
// stack back exactly as it was: a half-configured PAM stack can lock every user
// out of the installed system. pam-auth-update keeps its state beside the stack
// (/var/lib/pam), so both are restored together.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';

export const PAM_STATE_DIRS = ['/etc/pam.d', '/var/lib/pam'];
/** homecrypt's pam-auth-update profile (written by `homecrypt pam enable`). */
export const PAM_PROFILE = '/usr/share/pam-configs/homecrypt';

type Entry = { kind: 'file'; mode: number; data: Buffer } | { kind: 'link'; target: string } | { kind: 'dir'; mode: number };

export class PamSnapshot {
  private constructor(
    private readonly dirs: string[],
    private readonly entries: Map<string, Entry>,
  ) {}

  /** `dirs` are host paths (already resolved into the target). */
  static take(dirs: string[]): PamSnapshot {
    const entries = new Map<string, Entry>();
    const walk = (p: string) => {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) entries.set(p, { kind: 'link', target: readlinkSync(p) });
      else if (st.isDirectory()) {
        entries.set(p, { kind: 'dir', mode: st.mode & 0o7777 });
        for (const n of readdirSync(p)) walk(join(p, n));
      } else if (st.isFile()) entries.set(p, { kind: 'file', mode: st.mode & 0o7777, data: readFileSync(p) });
    };
    for (const d of dirs) if (existsSync(d)) walk(d);
    return new PamSnapshot(dirs, entries);
  }

  /** Paths that differ from the snapshot (added, removed or changed), relative to `base`. */
  changes(base: string): string[] {
    const now = PamSnapshot.take(this.dirs).entries;
    const out: string[] = [];
    for (const [p, e] of this.entries) {
      const n = now.get(p);
      if (!n || !sameEntry(e, n)) out.push(`/${relative(base, p)}`);
    }
    for (const p of now.keys()) if (!this.entries.has(p)) out.push(`/${relative(base, p)}`);
    return out.sort();
  }

  /** Puts every file back as it was; each file is replaced atomically. */
  restore(): void {
    const now = PamSnapshot.take(this.dirs).entries;
    // Remove what was added, deepest first.
    for (const p of [...now.keys()].sort((a, b) => b.length - a.length)) {
      if (!this.entries.has(p)) rmSync(p, { recursive: true, force: true });
    }
    for (const [p, e] of [...this.entries].sort(([a], [b]) => a.length - b.length)) {
      const n = now.get(p);
      if (n && sameEntry(e, n)) continue;
      if (e.kind === 'dir') {
        if (n && n.kind !== 'dir') rmSync(p, { force: true });
        mkdirSync(p, { recursive: true });
        chmodSync(p, e.mode);
        continue;
      }
      mkdirSync(dirname(p), { recursive: true });
      const tmp = `${p}.homecrypt-restore`;
      rmSync(tmp, { force: true });
      if (e.kind === 'link') symlinkSync(e.target, tmp);
      else {
        writeFileSync(tmp, e.data, { mode: e.mode });
        chmodSync(tmp, e.mode);
      }
      if (n?.kind === 'dir') rmSync(p, { recursive: true, force: true });
      renameSync(tmp, p);
    }
  }
}

function sameEntry(a: Entry, b: Entry): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'link' && b.kind === 'link') return a.target === b.target;
  if (a.kind === 'dir' && b.kind === 'dir') return a.mode === b.mode;
  if (a.kind === 'file' && b.kind === 'file') return a.mode === b.mode && a.data.equals(b.data);
  return false;
}
