// Where the login hook says what happened: syslog (LOG_AUTHPRIV, like every PAM
// module) and, when no syslog daemon listens on /dev/log (containers, these CI
// machines), a root-only log file so the reason is never lost. Callers pass
// messages that hold no secret.
import koffi from 'koffi';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Level = 'err' | 'warning' | 'notice' | 'info';
const PRIORITY: Record<Level, number> = { err: 3, warning: 4, notice: 5, info: 6 };
const LOG_AUTHPRIV = 10 << 3;
const LOG_PID = 0x01;

export const FALLBACK_LOG = process.env.HOMECRYPT_LOG_FILE_FOR_TESTS ?? '/var/log/homecrypt.log';

let libc: { openlog: (...a: unknown[]) => void; syslog: (...a: unknown[]) => void } | null = null;
let ident: Buffer | null = null; // openlog keeps the pointer: keep the buffer alive

function syslogLib(): typeof libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    openlog: lib.func('void openlog(const void *ident, int option, int facility)'),
    syslog: lib.func('void syslog(int priority, const char *format, ...)'),
  };
  ident = Buffer.from('homecrypt\0');
  libc.openlog(ident, LOG_PID, LOG_AUTHPRIV);
  return libc;
}

/** Logs one line to syslog (or the fallback file). Never throws. */
export function logLine(level: Level, message: string): void {
  const line = message.replace(/[\r\n]+/g, ' ');
  try {
    if (existsSync('/dev/log')) {
      syslogLib()!.syslog(LOG_AUTHPRIV | PRIORITY[level], '%s', 'str', line);
      return;
    }
  } catch { /* fall through to the file */ }
  try {
    mkdirSync(dirname(FALLBACK_LOG), { recursive: true });
    appendFileSync(FALLBACK_LOG, `${new Date().toISOString()} homecrypt[${process.pid}]: ${level}: ${line}\n`, { mode: 0o600 });
  } catch { /* nowhere to log: the hook still must not fail the login */ }
}
