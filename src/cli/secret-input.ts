// Secrets (passphrases, recovery keys) come from a terminal prompt or from a
// file descriptor the caller opened (`--passphrase-fd N`: scripts and PAM),
// never from argv or the environment, where other users and logs can see them.
// From a descriptor, each secret is one line ending in "\n" (or a NUL, as
// pam_exec's expose_authtok writes it); exactly the bytes needed are read, so
// whatever follows stays in the descriptor for the next reader.
import { readSync } from 'node:fs';
import { secretsEqual } from '../crypto/constant-time.js';
import { UsageError } from '../errors.js';
import { makeUndumpable } from '../os/no-dump.js';

const MAX_SECRET_BYTES = 4096;

export interface ReadSecretsOptions {
  /** read from this file descriptor instead of prompting */
  fd?: number;
  count: number;
  /** one prompt per secret (interactive only) */
  prompts: string[];
  /** ask for the last secret twice (a new passphrase) */
  confirmNew?: boolean;
}

export async function readSecrets(opts: ReadSecretsOptions): Promise<Buffer[]> {
  // a process holding secrets (and soon keys) leaves no core dump and cannot be ptraced by the user's other processes
  makeUndumpable();
  if (opts.fd !== undefined) return readFromFd(opts.fd, opts.count);
  return prompt(opts);
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readLine(fd: number, index: number): Buffer {
  const line = Buffer.alloc(MAX_SECRET_BYTES);
  const one = Buffer.alloc(1);
  let len = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, one, 0, 1, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') { sleepMs(5); continue; }
      line.fill(0);
      if (code === 'EBADF') throw new UsageError(`--passphrase-fd ${fd}: not an open file descriptor`);
      throw new UsageError(`--passphrase-fd ${fd}: cannot read (${code})`);
    }
    if (n === 0) {
      if (len === 0) {
        throw new UsageError(`--passphrase-fd ${fd}: end of input before secret ${index + 1} (one line per secret)`);
      }
      break;
    }
    if (one[0] === 0x0a || one[0] === 0x00) break;
    if (len === MAX_SECRET_BYTES) {
      line.fill(0);
      throw new UsageError(`--passphrase-fd ${fd}: secret ${index + 1} is longer than ${MAX_SECRET_BYTES} bytes`);
    }
    line[len++] = one[0];
  }
  one.fill(0);
  const out = Buffer.from(line.subarray(0, len));
  line.fill(0);
  return out;
}

function readFromFd(fd: number, count: number): Buffer[] {
  if (!Number.isInteger(fd) || fd < 0) throw new UsageError(`--passphrase-fd: invalid descriptor ${fd}`);
  const out: Buffer[] = [];
  try {
    for (let i = 0; i < count; i++) out.push(readLine(fd, i));
  } catch (err) {
    for (const b of out) b.fill(0);
    throw err;
  }
  return out;
}

async function prompt(opts: ReadSecretsOptions): Promise<Buffer[]> {
  if (!process.stdin.isTTY) {
    throw new UsageError('no terminal to ask for the passphrase: give it with --passphrase-fd N (one line per secret)');
  }
  const { password } = await import('@inquirer/prompts');
  const out: Buffer[] = [];
  // prompts go to stderr so that stdout carries only the command's output (e.g. --json)
  const ask = async (message: string) => {
    try {
      return Buffer.from(await password({ message, mask: '*' }, { output: process.stderr }), 'utf8');
    } catch (err) {
      // Ctrl-C or a closed terminal: a plain cancellation, not an internal error
      if ((err as Error)?.name === 'ExitPromptError' || (err as Error)?.name === 'AbortPromptError') {
        for (const b of out) b.fill(0);
        throw new UsageError('cancelled');
      }
      throw err;
    }
  };
  for (let i = 0; i < opts.count; i++) out.push(await ask(opts.prompts[i] ?? `Secret ${i + 1}:`));
  if (opts.confirmNew && out.length > 0) {
    const again = await ask('Repeat to confirm:');
    const same = secretsEqual(again, out[out.length - 1]);
    again.fill(0);
    if (!same) {
      for (const b of out) b.fill(0);
      throw new UsageError('the two entries do not match');
    }
  }
  return out;
}

/** commander parser for `--passphrase-fd N`. */
export function parseFdOption(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new UsageError(`--passphrase-fd: "${value}" is not a file descriptor number`);
  return Number(value);
}

/** Zeroes secrets once a command is done with them. */
export function wipe(...buffers: (Buffer | undefined | null)[]): void {
  for (const b of buffers) b?.fill(0);
}
