// Whether the system's PAM stacks call homecrypt as it needs (for `homecrypt
// doctor`): in each of common-auth, common-session and common-password a
// homecrypt line (pam_homecrypt.so, or pam_exec.so running homecrypt-pam-hook),
// after pam_unix.so so it only sees a password PAM accepted, and not jumped
// over by pam_unix's `success=N`; the module file and the hook present.
// Pure over the stack texts, except for the existence checks passed in.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

export interface Finding {
  check: string;
  level: 'problem' | 'warning';
  message: string;
  fix: string;
}

export const STACKS = ['common-auth', 'common-session', 'common-password'] as const;

/** Where PAM looks for a module named without a path (Debian's multiarch directory first). */
export const MODULE_DIRS = ['/lib/x86_64-linux-gnu/security', '/usr/lib/x86_64-linux-gnu/security', '/lib/security', '/usr/lib/security'];

interface StackLine {
  index: number;
  type: string;
  control: string;
  module: string;
  args: string[];
}

function parseStack(text: string): StackLine[] {
  const out: StackLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    let rest = line;
    const type = rest.split(/\s+/)[0]!.replace(/^-/, '');
    rest = rest.slice(rest.indexOf(type) + type.length).trim();
    let control: string;
    if (rest.startsWith('[')) {
      const end = rest.indexOf(']');
      control = rest.slice(0, end + 1);
      rest = rest.slice(end + 1).trim();
    } else {
      control = rest.split(/\s+/)[0]!;
      rest = rest.slice(control.length).trim();
    }
    const [module = '', ...args] = rest.split(/\s+/);
    out.push({ index: out.length, type, control, module, args });
  }
  return out;
}

const base = (m: string) => m.slice(m.lastIndexOf('/') + 1);
const isHomecrypt = (l: StackLine) =>
  base(l.module) === 'pam_homecrypt.so' || (base(l.module) === 'pam_exec.so' && l.args.some((a) => /homecrypt-pam-hook/.test(a)));

/** How many lines pam_unix's control skips on success (`[success=N …]`), 0 otherwise. */
function successJump(control: string): number {
  const m = /success=(\d+)/.exec(control);
  return m ? Number(m[1]) : 0;
}

export interface PamCheckEnv {
  pamDir: string;
  exists?: (path: string) => boolean;
}

/** The findings about the stacks in `pamDir`; `wanted` says whether any user relies on them. */
export function checkPamStacks(env: PamCheckEnv, wanted: boolean): Finding[] {
  const exists = env.exists ?? existsSync;
  const findings: Finding[] = [];
  const present: string[] = [];
  const reEnable = 'homecrypt pam disable, then homecrypt pam enable (or edit the file: the line goes after pam_unix.so)';
  for (const stack of STACKS) {
    const file = join(env.pamDir, stack);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const lines = parseStack(text);
    const ours = lines.filter(isHomecrypt);
    if (!ours.length) continue;
    present.push(stack);
    const unix = lines.find((l) => base(l.module) === 'pam_unix.so');
    for (const l of ours) {
      if (unix && l.index < unix.index) {
        const why =
          l.type === 'auth'
            ? 'it would take a password PAM has not accepted yet'
            : l.type === 'password'
              ? 'it would re-wrap the key before PAM has changed the password'
              : 'it would mount before PAM has opened the session';
        findings.push({
          check: 'pam-order',
          level: 'problem',
          message: `${file}: homecrypt's ${l.type} line comes before pam_unix.so, so ${why}`,
          fix: reEnable,
        });
      } else if (unix && l.type === 'auth' && l.index <= unix.index + successJump(unix.control)) {
        findings.push({
          check: 'pam-order',
          level: 'problem',
          message: `${file}: pam_unix.so's ${unix.control} jumps over homecrypt's line on a good password, so logins never unlock`,
          fix: reEnable,
        });
      }
      const mod = base(l.module) === 'pam_homecrypt.so' ? l.module : null;
      if (mod) {
        const found = mod.startsWith('/') ? exists(mod) : MODULE_DIRS.some((d) => exists(join(d, mod)));
        if (!found)
          findings.push({
            check: 'pam-module',
            level: 'problem',
            message: `${file} loads ${mod}, which is not there: PAM skips the line and logins do not unlock`,
            fix: 'reinstall homecrypt (apt-get install --reinstall homecrypt), or ./run build in a checkout; homecrypt pam enable --exec uses pam_exec.so instead',
          });
      }
      // lines of an older `pam enable --exec`: the hook then has no deadline, no turn, and starts node for everyone
      if (base(l.module) === 'pam_exec.so' && !l.args.some((a) => /^--deadline=\d+$/.test(a))) {
        findings.push({
          check: 'pam-exec-deadline',
          level: 'problem',
          message: `${file}: homecrypt's ${l.type} line runs the hook through pam_exec.so without --deadline (an older homecrypt wrote it): a hook the user stops holds that login for good, and every login, of any user, starts node as root`,
          fix: 'homecrypt pam enable --exec (it writes the lines anew), or homecrypt pam enable for the module',
        });
      }
      const hook = l.args.map((a) => a.replace(/^hook=/, '')).find((a) => /homecrypt-pam-hook$/.test(a));
      if (hook && !exists(hook)) {
        findings.push({
          check: 'pam-hook',
          level: 'problem',
          message: `${file} runs ${hook}, which is not there`,
          fix: "homecrypt pam disable, then homecrypt pam enable (the lines name this installation's hook)",
        });
      }
    }
    if (lines.some((l) => base(l.module) === 'pam_ecryptfs.so')) {
      findings.push({
        check: 'pam-ecryptfs',
        level: 'warning',
        message: `${file} also runs pam_ecryptfs.so (ecryptfs-utils' profile) beside homecrypt`,
        fix: 'once no user needs eCryptfs (homecrypt ecryptfs migrate), pam-auth-update --disable ecryptfs-utils, or remove ecryptfs-utils',
      });
    }
  }
  if (present.length && present.length < STACKS.length) {
    const missing = STACKS.filter((s) => !present.includes(s));
    findings.push({
      check: 'pam-lines',
      level: 'problem',
      message: `homecrypt is in ${present.join(', ')} but not in ${missing.join(', ')} (${missing.includes('common-session') ? 'homes are not mounted at login' : missing.includes('common-auth') ? 'the login password is never seen' : 'password changes do not re-wrap the key'})`,
      fix: reEnable,
    });
  } else if (!present.length && wanted) {
    findings.push({
      check: 'pam-lines',
      level: 'problem',
      message: `homecrypt is not in the PAM stacks of ${env.pamDir}: users set up for homecrypt are not unlocked at login`,
      fix: 'homecrypt pam enable',
    });
  }
  return findings;
}
