// `homecrypt status [--user U] [--json]`
import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { userStatus, type UserStatus } from '../../session/status.js';

function describe(s: UserStatus): string {
  if (s.mode === 'none') return `${s.user}: not set up for homecrypt (PAM hook ${s.pamEnabled ? 'enabled' : 'disabled'})\n`;
  const lines = [
    `user:        ${s.user}`,
    `mode:        ${s.mode === 'home' ? 'encrypted home' : 'encrypted Private directory'}${s.state !== 'ready' ? ` (setup ${s.state}: run setup again to finish)` : ''}`,
    `key ID:      ${s.keyId}`,
    `mount point: ${s.mountPoint} (${s.mounted ? 'mounted' : 'locked'})`,
    `lower dir:   ${s.lower}`,
    `key store:   ${s.keyStore}`,
    `slots:       ${s.slots ? s.slots.map((x) => `${x.name} (${x.kind})`).join(', ') : `unreadable: ${s.slotsError}`}`,
    `sessions:    ${s.sessions}`,
    `auto-mount:  ${s.autoMount ? 'on' : 'off'} (PAM hook ${s.pamEnabled ? 'enabled' : 'disabled: homecrypt pam enable'})`,
  ];
  if (s.rewrapPending) lines.push('password:    changed; the key store is re-wrapped at the next login');
  if (s.needsRecovery) lines.push(`password:    OUT OF SYNC: run homecrypt rewrap --recovery ${s.keyStore}`);
  return `${lines.join('\n')}\n`;
}

export function registerStatusCommands(program: Command): void {
  program.command('status')
    .description('mode, key ID, slots, mounted or not, sessions and auto-mount of a user')
    .option('--user <name>', 'the user (default: you)')
    .option('--json', 'print the status as JSON')
    .action((o: { user?: string; json?: boolean }) => {
      const s = userStatus(o.user ?? userInfo().username);
      process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : describe(s));
    });
}
