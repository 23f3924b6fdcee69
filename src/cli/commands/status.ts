// `homecrypt status [--user U | --all] [--json]`: exit 1 when not all is well
// (something to run or fix is named), as docs/CLI.md says of checks.
import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { statusIsWell, userStatus, type UserStatus } from '../../session/status.js';
import { listUserRecords } from '../../session/user-record.js';
import { UsageError } from '../../errors.js';
import { ExitCode } from '../exit-codes.js';
import { reporting, result } from '../output.js';

/** Doctor's words for a folder no record names, as doctor prints them. */
function strayLines(s: UserStatus): string[] {
  return (s.strayFolders ?? []).flatMap((f) => [`${f.level === 'problem' ? 'PROBLEM' : 'warning'}: ${f.message}`, `  fix: ${f.fix}`]);
}

function describe(s: UserStatus): string {
  if (s.mode === 'none') return [`${s.user}: not set up for homecrypt (PAM hook ${s.pamEnabled ? 'enabled' : 'disabled'})`, ...strayLines(s), ''].join('\n');
  const unfinished = s.state === 'undoing' ? 'undo interrupted' : s.state === 'migrating' ? 'setup interrupted: not mounted at login' : '';
  const lines = [
    `user:        ${s.user}`,
    `mode:        ${s.mode === 'home' ? 'encrypted home' : 'encrypted Private directory'}${unfinished ? ` (${unfinished})` : ''}`,
    `key ID:      ${s.keyId}`,
    `mount point: ${s.mountPoint} (${s.mounted ? 'mounted' : 'locked'})`,
    `lower dir:   ${s.lower}`,
    `key store:   ${s.keyStore}`,
    `slots:       ${s.slots ? s.slots.map((x) => `${x.name} (${x.kind})`).join(', ') : `unreadable: ${s.slotsError}`}`,
    `sessions:    ${s.sessions}`,
    `auto-mount:  ${s.autoMount ? 'on' : 'off'} (PAM hook ${s.pamEnabled ? 'enabled' : 'disabled: homecrypt pam enable'})`,
  ];
  if (s.orphaned) {
    return `${[...lines.slice(0, 3), `account:     DELETED: the record belongs to an account that no longer exists (or has another uid); homecrypt setup --forget --user ${s.user}`].join('\n')}\n`;
  }
  if (s.resume) lines.push(`unfinished:  run ${s.resume} again to finish`);
  if (s.recoveryKeyPending) lines.push('recovery:    the recovery key was never shown; running that command again shows a new one');
  if (s.rewrapPending) lines.push('password:    changed; the key store is re-wrapped at the next login');
  if (s.needsRecovery) lines.push(`password:    OUT OF SYNC: run homecrypt rewrap --recovery ${s.keyStore}`);
  lines.push(...strayLines(s));
  return `${lines.join('\n')}\n`;
}

export function registerStatusCommands(program: Command): void {
  reporting(
    program
      .command('status')
      .description('mode, key ID, slots, mounted or not, sessions and auto-mount of a user')
      .option('--user <name>', 'the user (default: you)')
      .option('--all', 'every user homecrypt has a record of')
      .option('--json', 'print the status as JSON'),
  ).action((o: { user?: string; all?: boolean; json?: boolean }) => {
    if (o.all && o.user) throw new UsageError('--all or --user, not both');
    if (o.all) {
      const all = listUserRecords().map((r) => userStatus(r.user));
      result(all, () => (all.length ? all.map(describe).join('\n') : 'no user is set up for homecrypt\n'));
      if (!all.every(statusIsWell)) process.exitCode = ExitCode.FAILURE;
      return;
    }
    const s = userStatus(o.user ?? userInfo().username);
    result(s, () => describe(s));
    if (!statusIsWell(s)) process.exitCode = ExitCode.FAILURE;
  });
}
