// The mount daemon's log is bounded: a user reading a tampered file in a loop
// wrote one EIO line per read into root's /run (about 1 MB/s).
import { describe, expect, it } from 'vitest';
import { rateLimitedLog } from '../../src/engine/log-limit.js';

describe('rateLimitedLog', () => {
  it('writes a burst, then one line a second, and says how many it dropped', () => {
    let t = 0;
    const out: string[] = [];
    const log = rateLimitedLog(
      (l) => out.push(l),
      { burst: 5, perSecond: 1 },
      () => t,
    );
    for (let i = 0; i < 1000; i++) log(`EIO ${i}`);
    expect(out).toEqual(['EIO 0', 'EIO 1', 'EIO 2', 'EIO 3', 'EIO 4']);
    t = 1000;
    log('EIO next');
    expect(out.slice(5)).toEqual(['homecrypt: 995 log lines dropped (more than 5 at once)', 'EIO next']);
    t = 1500;
    log('EIO too soon');
    expect(out).toHaveLength(7);
    t = 100_000; // a long quiet spell refills the burst, no more
    for (let i = 0; i < 10; i++) log(`later ${i}`);
    expect(out.slice(7)).toEqual(['homecrypt: 1 log line dropped (more than 5 at once)', 'later 0', 'later 1', 'later 2', 'later 3', 'later 4']);
  });

  it('lets ordinary logging through untouched', () => {
    let t = 0;
    const out: string[] = [];
    const log = rateLimitedLog(
      (l) => out.push(l),
      undefined,
      () => t,
    );
    for (let i = 0; i < 50; i++) {
      log(`line ${i}`);
      t += 10;
    }
    expect(out).toHaveLength(50);
  });
});
