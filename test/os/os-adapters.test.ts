// The OS adapters' parsers and lookups that need no root: /proc/self/mountinfo
// lines, passwd lines and user names, the processes of a uid.
import { describe, expect, it } from 'vitest';
import { fuseMountOwner, parseMountinfo } from '../../src/os/mounts.js';
import { parsePasswdLine, isValidUserName } from '../../src/os/users.js';
import { processesOf } from '../../src/os/processes.js';
import { UsageError } from '../../src/errors.js';

describe('OS adapters', () => {
  it('parses mountinfo, unescaping blanks in mount points', () => {
    const e = parseMountinfo('36 35 0:40 / /home/a\\040b rw,nosuid - fuse.homecrypt homecrypt rw,user_id=1000\n');
    expect(e).toEqual([{ mountPoint: '/home/a b', fsType: 'fuse.homecrypt', source: 'homecrypt', superOptions: 'rw,user_id=1000' }]);
    expect(fuseMountOwner(e[0]!)).toBe(1000);
    expect(fuseMountOwner({ ...e[0]!, superOptions: 'rw,xuser_id=5' })).toBe(null);
  });

  it('parses passwd lines and refuses malformed ones', () => {
    expect(parsePasswdLine('alice:x:1000:1000:Alice:/home/alice:/bin/bash', 'alice')).toMatchObject({ uid: 1000, home: '/home/alice' });
    expect(() => parsePasswdLine('alice:x:abc:1000::/home/alice:/bin/sh', 'alice')).toThrow(UsageError);
    expect(isValidUserName('../etc')).toBe(false);
    expect(isValidUserName('bob.smith')).toBe(true);
  });

  it('finds the processes of a uid', () => {
    expect(processesOf(process.getuid!()).some((p) => p.pid === process.pid)).toBe(true);
  });
});
