// A bound on what a mount daemon logs. Its log is a root-owned file in /run
// (a tmpfs in RAM, shared by every user and service), and the user decides
// what it logs: every read of a tampered file gives one EIO line, so a loop
// of preads wrote about 1 MB/s there until /run was full. Lines beyond a
// burst are dropped, at a steady rate of one a second, and counted; the count
// is logged with the next line that gets through.

export interface LogLimit {
  /** lines that may be written at once */
  burst: number;
  /** lines a second, steadily */
  perSecond: number;
}

export const DAEMON_LOG_LIMIT: LogLimit = { burst: 200, perSecond: 1 };

export function rateLimitedLog(write: (line: string) => void, limit: LogLimit = DAEMON_LOG_LIMIT, now: () => number = Date.now): (line: string) => void {
  let tokens = limit.burst;
  let last = now();
  let dropped = 0;
  return (line) => {
    const t = now();
    tokens = Math.min(limit.burst, tokens + ((t - last) / 1000) * limit.perSecond);
    last = t;
    if (tokens < 1) {
      dropped++;
      return;
    }
    tokens -= 1;
    if (dropped > 0) {
      write(`homecrypt: ${dropped} log line${dropped === 1 ? '' : 's'} dropped (more than ${limit.burst} at once)`);
      dropped = 0;
    }
    write(line);
  };
}
