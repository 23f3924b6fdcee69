// `homecrypt install` as an installer author meets it: bad answers and unsafe
// secrets are refused with one line naming the problem and a precise exit code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const BIN = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../bin/homecrypt');
let dir: string;

function run(args: string[], input?: string): { code: number; stderr: string } {
  // fd 3 carries the passphrase when `input` is given (the child reads /dev/stdin as fd 3 via the shell).
  const r =
    input === undefined
      ? spawnSync(BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      : spawnSync('sh', ['-c', `exec "$0" "$@" 3<&0`, BIN, ...args], { encoding: 'utf8', input });
  return { code: r.status ?? 128, stderr: r.stderr };
}
function answersFile(name: string, content: unknown): string {
  const f = join(dir, name);
  writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
  return f;
}

describe('homecrypt install: arguments and answers', () => {
  beforeAll(() => {
    dir = mkdtempSync('/tmp/homecrypt-install-cli-');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--target is required', () => {
    const r = run(['install']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '--target <root>' not specified");
  });

  it('a bad answer: exit 2 and one line naming the file and the answer', () => {
    const f = answersFile('bad.json', { version: 1, user: 'alice', encryptHome: 'yes' });
    const r = run(['install', '--target', dir, '--answers', f]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`homecrypt: ${f}: answers: "encryptHome" must be one of "home", "private", "no" (got "yes")`);
  });

  it('a missing answers file or broken JSON: exit 2, named', () => {
    expect(run(['install', '--target', dir, '--answers', join(dir, 'nope.json')]).stderr).toContain('nope.json: no such file');
    const r = run(['install', '--target', dir, '--answers', answersFile('broken.json', '{"version": 1,')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/broken\.json: not valid JSON/);
  });

  it('no passphrase source: exit 2 naming "passphraseFile"', () => {
    const r = run(['install', '--target', dir, '--answers', answersFile('nopass.json', { version: 1, user: 'alice' })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"passphraseFile" is required');
  });

  it('a passphrase file others can read: exit 9, and its mode is named', () => {
    const pw = join(dir, 'pw');
    writeFileSync(pw, 'secret-passphrase\n');
    chmodSync(pw, 0o644);
    const r = run(['install', '--target', dir, '--answers', answersFile('pw.json', { version: 1, user: 'alice', passphraseFile: pw })]);
    expect(r.code).toBe(9);
    expect(r.stderr).toContain(`"passphraseFile" ${pw}: must be owned by root with mode 0600 or stricter (it is uid 0, mode 0644)`);
    expect(r.stderr).not.toContain('secret-passphrase');
  });

  it('both --passphrase-fd and "passphraseFile": exit 2', () => {
    const r = run(
      ['install', '--target', dir, '--passphrase-fd', '3', '--answers', answersFile('both.json', { version: 1, user: 'alice', passphraseFile: '/root/x' })],
      'pw\n',
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('not both');
  });

  it('no --answers and no terminal: exit 2', () => {
    const r = run(['install', '--target', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no --answers file and no terminal');
  });

  it('a --target that does not exist: exit 8, named', () => {
    const r = run(
      ['install', '--target', join(dir, 'no-such-root'), '--passphrase-fd', '3', '--answers', answersFile('nr.json', { version: 1, user: 'alice' })],
      'pw-long-enough\n',
    );
    expect(r.code).toBe(8);
    expect(r.stderr.trim()).toBe(`homecrypt: --target ${join(dir, 'no-such-root')}: no such directory`);
  });

  it('--target / is refused', () => {
    const r = run(
      ['install', '--target', '/', '--passphrase-fd', '3', '--answers', answersFile('root.json', { version: 1, user: 'alice' })],
      'pw-long-enough\n',
    );
    expect(r.code).toBe(8);
    expect(r.stderr).toContain('--target /: the target must be the root of the system being installed');
  });
});
