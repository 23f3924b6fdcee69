// The record of what the installer step did, kept inside the target
// (/var/log/homecrypt-install.log, root-only) so an administrator can read
// later what was changed and why. It never holds a secret: commands are logged
// by their argv (which never carries one) and the output of setup, which shows
// the recovery key, is never logged.
import { appendFileSync, chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export const INSTALL_LOG = '/var/log/homecrypt-install.log';

export class InstallLog {
  constructor(
    private readonly file: string,
    private readonly echo: (line: string) => void = () => {},
  ) {
    mkdirSync(dirname(file), { recursive: true });
    appendFileSync(file, '', { mode: 0o600 });
    chmodSync(file, 0o600);
  }

  write(step: string, message: string): void {
    const lines = message.split('\n').filter((l) => l.trim() !== '');
    for (const l of lines) appendFileSync(this.file, `${new Date().toISOString()} ${step}: ${l}\n`);
    if (lines.length) this.echo(`${step}: ${lines.join('\n  ')}`);
  }

  /** Logs a command, its status and the tail of its stderr (stdout only when asked). */
  command(step: string, argv: string[], code: number, stderr: string, stdout?: string): void {
    this.write(step, `ran \`${argv.join(' ')}\` -> exit ${code}`);
    const tail = (s: string) =>
      s
        .trim()
        .split('\n')
        .slice(-15)
        .map((l) => `  | ${l}`)
        .join('\n');
    if (stdout?.trim()) appendFileSync(this.file, `${tail(stdout)}\n`);
    if (stderr.trim()) appendFileSync(this.file, `${tail(stderr)}\n`);
  }
}
