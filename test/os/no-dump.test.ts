// makeUndumpable: a process holding a key turns itself non-dumpable. Checked in
// a child process (the test runner must stay dumpable), through the kernel's
// own answer to prctl(PR_GET_DUMPABLE).
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');

const child = `
  const { libcFn } = await import(${JSON.stringify(join(DIST, 'os/libc.js'))});
  const { makeUndumpable } = await import(${JSON.stringify(join(DIST, 'os/no-dump.js'))});
  const prctl = libcFn('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)');
  const PR_GET_DUMPABLE = 3;
  const before = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  const ok = makeUndumpable();
  console.log(JSON.stringify({ before, ok, after: prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) }));
`;

describe('makeUndumpable', () => {
  it('turns a dumpable process non-dumpable', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ before: 1, ok: true, after: 0 });
  });
});
