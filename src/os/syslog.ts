// Where the login hook says what happened: syslog (LOG_AUTHPRIV, like every PAM
// module) when a syslog daemon listens on /dev/log, and always homecrypt's own
// root-only log file, so the reason is never lost (containers and these CI
// machines have no syslog daemon). Callers pass messages that hold no secret.
import { libc as libcLibrary } from './libc.js';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Level = 'err' | 'warning' | 'notice' | 'info';
const PRIORITY: Record<Level, number> = { err: 3, warning: 4, notice: 5, info: 6 };
const LOG_AUTHPRIV = 10 << 3;
const LOG_PID = 0x01;

export const LOG_FILE = '/var/log/homecrypt.log';

let libc: { openlog: (...a: unknown[]) => void; syslog: (...a: unknown[]) => void } | null = null;
let ident: Buffer | null = null; // openlog keeps the pointer: keep the buffer alive

function syslogLib(): typeof libc {
  if (libc) return libc;
  const lib = libcLibrary();
  libc = {
    openlog: lib.func('void openlog(const void *ident, int option, int facility)'),
    syslog: lib.func('void syslog(int priority, const char *format, ...)'),
  };
  ident = Buffer.from('homecrypt\0');
  libc.openlog(ident, LOG_PID, LOG_AUTHPRIV);
  return libc;
}

/** Logs one line to syslog and the log file. Never throws. */
export function logLine(level: Level, message: string): void {
  const line = message.replace(/[\r\n]+/g, ' ');
  try {
    if (existsSync('/dev/log')) syslogLib()!.syslog(LOG_AUTHPRIV | PRIORITY[level], '%s', 'str', line);
  } catch {
    /* the file below still has it */
  }
  try {
    mkdirSync(dirname(LOG_FILE), { recursive: true });
    appendFileSync(LOG_FILE, `${new Date().toISOString()} homecrypt[${process.pid}]: ${level}: ${line}\n`, { mode: 0o600 });
  } catch {
    /* nowhere to log: the hook still must not fail the login */
  }
}
