// No OS error reaches the user as exit 70 ("internal error"): every errno maps
// to a documented code, the one-line message names the path, and docs/CLI.md
// and the man page list exactly the codes of src/cli/exit-codes.ts.
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ERRNO_EXIT, EXIT_MEANING, ExitCode, exitCodeFor } from '../../src/cli/exit-codes.js';
import { osErrorMessage } from '../../src/cli/run-program.js';

function osError(code: string, syscall = 'open', path = '/some/path'): NodeJS.ErrnoException {
  const e = new Error(`${code}: some text, ${syscall} '${path}'`) as NodeJS.ErrnoException;
  Object.assign(e, { code, syscall, path, errno: -((constants.errno as Record<string, number>)[code] ?? 1) });
  return e;
}

describe('exit codes', () => {
  it('maps every errno the OS knows to a documented code, never INTERNAL', () => {
    const documented = new Set<number>(Object.values(ExitCode));
    for (const code of Object.keys(constants.errno)) {
      const got = exitCodeFor(osError(code));
      expect(got, code).not.toBe(ExitCode.INTERNAL);
      expect(documented.has(got), code).toBe(true);
    }
    expect(exitCodeFor(osError('EACCES'))).toBe(ExitCode.PERMISSION_DENIED);
    expect(exitCodeFor(osError('EPERM'))).toBe(ExitCode.PERMISSION_DENIED);
    expect(exitCodeFor(osError('ENOENT'))).toBe(ExitCode.USAGE);
    expect(exitCodeFor(osError('EEXIST'))).toBe(ExitCode.REFUSED);
    expect(exitCodeFor(osError('ENOSPC'))).toBe(ExitCode.FAILURE);
    // a plain bug stays INTERNAL
    expect(exitCodeFor(new TypeError('x is undefined'))).toBe(ExitCode.INTERNAL);
  });

  it('words an OS error as "PATH: reason"', () => {
    const e = Object.assign(new Error("EACCES: permission denied, open '/root/x'"), { code: 'EACCES', syscall: 'open', path: '/root/x' });
    expect(osErrorMessage(e)).toBe('/root/x: permission denied');
  });

  it('docs/CLI.md lists every code with its name, meaning and errno values', () => {
    const doc = readFileSync(new URL('../../docs/CLI.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| (\d+) \| ([A-Z_]+) \| (.*?) \| (.*?) \|$/gm)];
    expect(rows.map((r) => [Number(r[1]), r[2]])).toEqual(
      Object.entries(ExitCode)
        .map(([n, c]) => [c, n])
        .sort((a, b) => (a[0] as number) - (b[0] as number)),
    );
    for (const r of rows) {
      const name = r[2] as keyof typeof ExitCode;
      expect(r[3]).toBe(EXIT_MEANING[name]);
      const errnos = Object.entries(ERRNO_EXIT)
        .filter(([, c]) => c === ExitCode[name])
        .map(([e]) => e);
      for (const e of errnos) expect(r[4], `${name} lists ${e}`).toContain(e);
    }
  });
});

describe('a reader that stops early', () => {
  it('ends the command quietly (no EPIPE stack trace), as `homecrypt … | head` does', async () => {
    const { spawn } = await import('node:child_process');
    const bin = new URL('../../bin/homecrypt', import.meta.url).pathname;
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn(bin, ['--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout.destroy(); // the reader is gone before the first write
      let stderr = '';
      c.stderr.on('data', (d) => (stderr += d));
      c.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
