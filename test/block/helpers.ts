// Shared bits of the block-mode tests: temp dirs, the CLI, cryptsetup.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const HOMECRYPT = join(REPO, 'bin/homecrypt');

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `hc-block-${tag}-`));
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `homecrypt ARGS`; `secrets` (one per line) arrive on stdin as --passphrase-fd 0. */
export function hc(args: string[], secrets: string[] = [], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(HOMECRYPT, secrets.length ? [...args, '--passphrase-fd', '0'] : args, {
    input: secrets.length ? `${secrets.join('\n')}\n` : '',
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export function cryptsetup(args: string[], key?: string): { code: number; out: string } {
  const r = spawnSync('cryptsetup', args, { input: key ?? '', encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** `cryptsetup open --test-passphrase` of `img` with `pass`: its exit status (0: a keyslot opens). */
export const testPassphrase = (img: string, pass: string): number => cryptsetup(['open', '--test-passphrase', '--key-file=-', img], pass).code;

export function sh(cmd: string): string {
  return execFileSync('bash', ['-c', cmd], { encoding: 'utf8' });
}

/** Closes every volume the tests opened under `env`'s state dir (afterAll, also after a failure). */
export function closeAll(env: Record<string, string>): void {
  const r = hc(['block', 'status', '--json'], [], env);
  let names: string[] = [];
  try {
    names = (JSON.parse(r.stdout) as { name: string }[]).map((v) => v.name);
  } catch {
    /* nothing open */
  }
  for (const n of names) hc(['block', 'close', n], [], env);
}
