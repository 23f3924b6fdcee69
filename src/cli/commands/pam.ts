// `homecrypt pam enable|disable|lines`: installs the shipped PAM lines as a
// Debian pam-auth-update profile, or prints them for other systems.
import type { Command } from 'commander';
import { requireRoot } from '../../os/require-root.js';
import { disablePam, enablePam, renderStackLines, pamEnabled } from '../../session/pam-config.js';

export function registerPamCommands(program: Command): void {
  const pam = program.command('pam').description('hook homecrypt into the system PAM stacks (pam_exec.so)');
  pam.command('enable')
    .description('install the pam-auth-update profile and enable it (Debian)')
    .action(async () => {
      requireRoot('homecrypt pam enable');
      const file = await enablePam();
      process.stdout.write(`homecrypt PAM profile enabled (${file}); logins of homecrypt users now unlock their homes\n`);
    });
  pam.command('disable')
    .description('disable and remove the pam-auth-update profile')
    .action(async () => {
      requireRoot('homecrypt pam disable');
      await disablePam();
      process.stdout.write('homecrypt PAM profile removed; homes stay locked at login until it is enabled again\n');
    });
  pam.command('lines')
    .description('print the stack lines for systems without pam-auth-update')
    .action(() => { process.stdout.write(renderStackLines()); });
  pam.command('status')
    .description('say whether the system stacks call homecrypt')
    .action(() => { process.stdout.write(pamEnabled() ? 'enabled\n' : 'disabled\n'); process.exitCode = pamEnabled() ? 0 : 1; });
}
