// Secrets from a file descriptor: one per line (or NUL-terminated, as pam_exec
// writes them), exactly the bytes needed, clear errors for short or huge input.
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSecrets } from '../../src/cli/secret-input.js';
import { UsageError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'hc-secret-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function fromFile(content: Buffer | string, count: number): Promise<{ secrets: string[]; rest: string }> {
  const f = join(dir, `in-${Math.random().toString(36).slice(2)}`);
  writeFileSync(f, content);
  const fd = openSync(f, 'r');
  try {
    const secrets = (await readSecrets({ fd, count, prompts: [] })).map((b) => b.toString('utf8'));
    const restBuf = Buffer.alloc(1024);
    const n = readSync(fd, restBuf, 0, 1024, null);
    return { secrets, rest: restBuf.subarray(0, n).toString('utf8') };
  } finally {
    closeSync(fd);
  }
}

describe('readSecrets from a descriptor', () => {
  it('reads one secret per line, keeping spaces and UTF-8, and leaves what follows', async () => {
    expect(await fromFile(' old pass \nnëw ✓\nnext\n', 2)).toEqual({ secrets: [' old pass ', 'nëw ✓'], rest: 'next\n' });
  });

  it('accepts a NUL terminator (pam_exec expose_authtok) and a last line without newline', async () => {
    expect((await fromFile(Buffer.from('from pam\0'), 1)).secrets).toEqual(['from pam']);
    expect((await fromFile('no newline', 1)).secrets).toEqual(['no newline']);
  });

  it('fails clearly on missing lines, oversize secrets and bad descriptors', async () => {
    await expect(fromFile('only one\n', 2)).rejects.toThrowError(/end of input before secret 2/);
    await expect(fromFile('x'.repeat(5000), 1)).rejects.toThrowError(/longer than 4096 bytes/);
    await expect(readSecrets({ fd: 999, count: 1, prompts: [] })).rejects.toThrowError(UsageError);
  });
});
