// Secrets (passphrases, recovery keys) come from a terminal prompt or from a
// file descriptor the caller opened (`--passphrase-fd N`: scripts and PAM),
// never from argv or the environment, where other users and logs can see them.
// From a descriptor, each secret is one line ending in "\n" (or a NUL, as
// pam_exec's expose_authtok writes it); exactly the bytes needed are read, so
// whatever follows stays in the descriptor for the next reader.
import { secretsEqual } from '../crypto/constant-time.js';
import { UsageError, WrongPassphraseError } from '../errors.js';
import { passphraseProblem } from '../keys/passphrase-policy.js';
import { makeUndumpable } from '../os/no-dump.js';
import { readSecret, type SecretRead } from '../os/secret-read.js';

const MAX_SECRET_BYTES = 4096;

export interface ReadSecretsOptions {
  /** read from this file descriptor instead of prompting */
  fd?: number;
  count: number;
  /** one prompt per secret (interactive only) */
  prompts: string[];
  /** ask for the last secret twice (a new passphrase) */
  confirmNew?: boolean;
  /** the last secret is a new passphrase: it must pass src/keys/passphrase-policy.ts */
  newPassphrase?: boolean;
}

/** Tries a terminal user gets for a mistyped confirmation, a too short or a wrong passphrase. */
export const TERMINAL_TRIES = 3;

export async function readSecrets(opts: ReadSecretsOptions): Promise<Buffer[]> {
  // a process holding secrets (and soon keys) leaves no core dump and cannot be ptraced by the user's other processes
  makeUndumpable();
  if (opts.fd !== undefined) {
    const got = readFromFd(opts.fd, opts.count);
    if (opts.newPassphrase) {
      const why = passphraseProblem(got[got.length - 1]!);
      if (why) {
        wipe(...got);
        throw new UsageError(why);
      }
    }
    return got;
  }
  return prompt(opts);
}

/** Reads the secrets, runs `use` with them, and wipes them however it ends. */
export async function withSecrets<T>(opts: ReadSecretsOptions, use: (secrets: Buffer[]) => Promise<T> | T): Promise<T> {
  const secrets = await readSecrets(opts);
  try {
    return await use(secrets);
  } finally {
    wipe(...secrets);
  }
}

/**
 * Reads the secrets and runs `attempt` with them; on a terminal, a wrong
 * passphrase asks again (up to TERMINAL_TRIES times, as cryptsetup does).
 * From a descriptor there is one try. The secrets are wiped afterwards.
 */
export async function withSecretTries<T>(opts: ReadSecretsOptions, attempt: (secrets: Buffer[]) => Promise<T>): Promise<T> {
  for (let tryNo = 1; ; tryNo++) {
    try {
      return await withSecrets(opts, attempt);
    } catch (err) {
      if (!(err instanceof WrongPassphraseError) || opts.fd !== undefined || tryNo >= TERMINAL_TRIES) throw err;
      process.stderr.write(`homecrypt: ${err.message}; try again\n`);
    }
  }
}

function readLine(fd: number, index: number): Buffer {
  let r: SecretRead;
  try {
    r = readSecret(fd, MAX_SECRET_BYTES);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EBADF') throw new UsageError(`--passphrase-fd ${fd}: not an open file descriptor`);
    throw new UsageError(`--passphrase-fd ${fd}: cannot read (${code})`);
  }
  if (r.end === 'too-long') {
    r.secret.fill(0);
    throw new UsageError(`--passphrase-fd ${fd}: secret ${index + 1} is longer than ${MAX_SECRET_BYTES} bytes`);
  }
  if (r.end === 'eof' && r.secret.length === 0) {
    throw new UsageError(`--passphrase-fd ${fd}: end of input before secret ${index + 1} (one line per secret)`);
  }
  return r.secret;
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
  for (let i = 0; i < opts.count - 1; i++) out.push(await ask(opts.prompts[i] ?? `Secret ${i + 1}:`));
  // the last one, a new passphrase, is asked again while it is too short or its confirmation differs
  for (let tryNo = 1; ; tryNo++) {
    const last = await ask(opts.prompts[opts.count - 1] ?? `Secret ${opts.count}:`);
    let why = opts.newPassphrase ? passphraseProblem(last) : null;
    if (!why && opts.confirmNew) {
      const again = await ask('Repeat to confirm:');
      if (!secretsEqual(again, last)) why = 'the two entries do not match';
      again.fill(0);
    }
    if (!why) {
      out.push(last);
      return out;
    }
    last.fill(0);
    if (tryNo >= TERMINAL_TRIES) {
      for (const b of out) b.fill(0);
      throw new UsageError(why);
    }
    process.stderr.write(`homecrypt: ${why}; try again\n`);
  }
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
