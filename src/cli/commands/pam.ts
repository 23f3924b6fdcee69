// `homecrypt pam enable|disable|lines`: installs the shipped PAM lines as a
// Debian pam-auth-update profile, or prints them for other systems. The lines
// load pam_homecrypt.so; `--exec` gives the pam_exec.so fallback instead.
import type { Command } from 'commander';
import { requireRoot } from '../../os/require-root.js';
import { disablePam, enablePam, renderStackLines, pamEnabled } from '../../session/pam-config.js';
import { ExitCode } from '../../errors.js';
import { reporting, result } from '../output.js';

export function registerPamCommands(program: Command): void {
  const pam = program.command('pam').description('hook homecrypt into the system PAM stacks (pam_homecrypt.so)');
  reporting(
    pam
      .command('enable')
      .description('install the pam-auth-update profile and enable it (Debian)')
      .option('--exec', 'use the pam_exec.so fallback instead of pam_homecrypt.so'),
  ).action(async (o: { exec?: boolean }) => {
    requireRoot('homecrypt pam enable');
    const file = await enablePam(o.exec ? 'exec' : 'module');
    result(
      { enabled: true, profile: file, flavour: o.exec ? 'exec' : 'module' },
      `homecrypt PAM profile enabled (${file}); logins of homecrypt users now unlock their homes\n`,
    );
  });
  reporting(pam.command('disable').description('disable and remove the pam-auth-update profile (either flavour)')).action(async () => {
    requireRoot('homecrypt pam disable');
    await disablePam();
    result({ enabled: false }, 'homecrypt PAM profile removed; homes stay locked at login until it is enabled again\n');
  });
  pam
    .command('lines')
    .description('print the stack lines for systems without pam-auth-update')
    .option('--exec', 'the pam_exec.so fallback lines')
    .action((o: { exec?: boolean }) => {
      process.stdout.write(renderStackLines(undefined, o.exec ? 'exec' : 'module'));
    });
  reporting(pam.command('status').description('say whether the system stacks call homecrypt (exit 1 when not)')).action(() => {
    const enabled = pamEnabled();
    result({ enabled }, enabled ? 'enabled\n' : 'disabled\n');
    process.exitCode = enabled ? ExitCode.OK : ExitCode.FAILURE;
  });
}
