// `homecrypt doctor [--user U] [--pam-dir DIR] [--json]`: checks the set-up and
// says in plain words what to fix. Exit 0 when nothing needs fixing (warnings
// allowed), 1 when a problem was found (docs/CLI.md).
import type { Command } from 'commander';
import { ExitCode } from '../exit-codes.js';
import { reporting, result } from '../output.js';
import { requireRoot } from '../../os/require-root.js';
import { runDoctor, type Finding } from '../../session/doctor.js';

function describe(findings: Finding[], users: string[]): string {
  const problems = findings.filter((f) => f.level === 'problem').length;
  const warnings = findings.length - problems;
  const who = `${users.length} user${users.length === 1 ? '' : 's'} checked`;
  if (!findings.length) return `homecrypt doctor: all well (${who}, PAM stacks checked)\n`;
  const lines = [`homecrypt doctor: ${problems} problem${problems === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'} (${who})`];
  for (const f of findings) {
    lines.push(`${f.level === 'problem' ? 'PROBLEM' : 'warning'}: ${f.message}`);
    lines.push(`  fix: ${f.fix}`);
  }
  return `${lines.join('\n')}\n`;
}

export function registerDoctorCommand(program: Command): void {
  reporting(
    program
      .command('doctor')
      .description('check the PAM stacks, user records, login slots and leftover mounts and keys; say what to fix (exit 1 when something must be fixed)')
      .option('--user <name>', "check this user's record only (the PAM stacks are always checked)")
      .option('--pam-dir <dir>', "check the stacks in this directory instead of /etc/pam.d (another system's)", '/etc/pam.d'),
  ).action((o: { user?: string; pamDir: string }) => {
    requireRoot('homecrypt doctor');
    const r = runDoctor({ user: o.user, pamDir: o.pamDir });
    const ok = !r.findings.some((f) => f.level === 'problem');
    result({ ok, users: r.users, findings: r.findings }, () => describe(r.findings, r.users));
    process.exitCode = ok ? ExitCode.OK : ExitCode.FAILURE;
  });
}
