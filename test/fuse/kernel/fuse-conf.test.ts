// /etc/fuse.conf read as fusermount3 reads it (src/fuse/kernel/fuse-conf.ts,
// after read_conf/strip_line/parse_line of libfuse 3.14's util/fusermount.c):
// `homecrypt mount --allow-other` refuses only what fusermount3 would refuse.
import { describe, expect, it } from 'vitest';
import { confAllowsOther } from '../../../src/fuse/kernel/fuse-conf.js';

describe('user_allow_other in /etc/fuse.conf, as fusermount3 reads it', () => {
  it.each([
    ['user_allow_other\n', true],
    ['# comment\nuser_allow_other\nmount_max = 1000\n', true],
    ['  \tuser_allow_other \t # let users share\n', true],
    ['user_allow_other\r\n', true], // \r is white space to isspace
    ['mount_max = 5\nuser_allow_other\n', true],
    ['', false],
    ['#user_allow_other\n', false],
    ['user_allow_other', false], // the last line without its newline is never parsed
    ['mount_max = 1\nuser_allow_other', false],
    ['user_allow_other = 1\n', false],
    ['user_allow_others\n', false],
    ['USER_ALLOW_OTHER\n', false],
    ['user_\u0000allow_other\nuser_allow_other\n', false], // a NUL ends the line there, and the next one is taken for its rest
    [`${' '.repeat(240)}user_allow_other\n`, false], // 257 bytes: longer than fgets' 255, skipped whole
    [`${' '.repeat(238)}user_allow_other\n`, true], // 255 bytes with the newline: read
    [`${'#'.repeat(300)}\nuser_allow_other\n`, true], // the line after a long one is read
  ])('%j → %s', (conf, allowed) => {
    expect(confAllowsOther(Buffer.from(conf, 'latin1'))).toBe(allowed);
  });
});
