// The key, rewrap and keyring commands run as a user would run them
// (bin/homecrypt over the compiled dist/): outputs, exit codes, and errors that
// are one clear line — never a stack trace.
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { forgetMountKey } from '../../src/os/keyring.js';
import { skipUnless } from '../helpers/requirements.js';
import { asUser, createTestUserRetrying as createTestUser, removeTestUser } from '../helpers/users.js';

const BIN = new URL('../../bin/homecrypt', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'hc-cli-keys-'));
const inserted: string[] = [];
afterAll(() => {
  for (const id of inserted) forgetMountKey(id);
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function hc(args: string[], input?: string): Run {
  const r = spawnSync(BIN, args, { input: input ?? '', encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
/** Runs with the secrets on file descriptor 3 (a file), stdin closed. */
function hcFd3(args: string[], secrets: string): Run {
  const f = join(dir, `secrets-${Math.random().toString(36).slice(2)}`);
  writeFileSync(f, secrets, { mode: 0o600 });
  const fd = openSync(f, 'r');
  try {
    const r = spawnSync(BIN, [...args, '--passphrase-fd', '3'], { stdio: ['ignore', 'pipe', 'pipe', fd], encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? -1, stdout: r.stdout as string, stderr: r.stderr as string };
  } finally {
    closeSync(fd);
    rmSync(f);
  }
}
function expectCleanError(r: Run, code: number, msg: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr).toMatch(msg);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/internal error/);
}

let n = 0;
function create(passphrase = 'pass one'): { file: string; keyId: string; recoveryKey: string } {
  const file = join(dir, `ks-${n++}`);
  const r = hcFd3(['key', 'create', file, '--kdf-time', '0.05', '--json'], `${passphrase}\n`);
  expect(r.code, r.stderr).toBe(0);
  const j = JSON.parse(r.stdout);
  return { file, keyId: j.keyId, recoveryKey: j.recoveryKey };
}

describe('homecrypt key / rewrap / keyring', () => {
  it('key create prints the key ID and the recovery key once, with what to do with it', () => {
    const file = join(dir, 'created');
    const r = hc(['key', 'create', file, '--kdf-time', '0.05', '--passphrase-fd', '0'], 'secret pass\n');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Created key store .*created \(key ID [0-9a-f]{16}\)\./);
    expect(r.stdout).toMatch(/Recovery key \(shown only this once\):\n\n {4}([0-9A-HJKMNP-TV-Z]{5}-){7}[0-9A-HJKMNP-TV-Z]{5}\n/);
    expect(r.stdout).toContain(`homecrypt rewrap ${file} --recovery`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expectCleanError(
      hc(['key', 'create', file, '--kdf-time', '0.05', '--passphrase-fd', '0'], 'x\n'),
      ExitCode.REFUSED,
      /already exists; refusing to overwrite/,
    );
  });

  it('key create --json gives the data; slots list shows the slots', () => {
    const { file, keyId, recoveryKey } = create();
    expect(keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(recoveryKey).toMatch(/^([0-9A-Z]{5}-){7}[0-9A-Z]{5}$/);
    const list = hc(['key', 'slots', file]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(`^key ID ${keyId} \\(key store version 1\\)\nNAME +KIND +KDF\nlogin +passphrase +argon2id t=\\d+ m=\\d+MiB p=1\nrecovery +recovery +argon2id`),
    );
    const json = JSON.parse(hc(['key', 'slots', file, 'list', '--json']).stdout);
    expect(json.keyId).toBe(keyId);
    expect(json.slots.map((s: { name: string }) => s.name)).toEqual(['login', 'recovery']);
  });

  it('key slots add-passphrase, add-recovery and remove, with secrets one per line', () => {
    const { file, recoveryKey } = create('login pw');
    const add = hcFd3(['key', 'slots', file, 'add-passphrase', 'laptop'], 'login pw\nsecond pw\n');
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toBe(`Added passphrase slot laptop to ${file}.\n`);
    const rec = hcFd3(['key', 'slots', file, 'add-recovery', '--json'], 'second pw\n');
    expect(rec.code, rec.stderr).toBe(0);
    const rk2 = JSON.parse(rec.stdout).recoveryKey;
    expect(rk2).not.toBe(recoveryKey);
    expect(hcFd3(['key', 'slots', file, 'remove', 'login'], `${rk2}\n`).code).toBe(0);
    const names = JSON.parse(hc(['key', 'slots', file, 'list', '--json']).stdout).slots.map((s: { name: string }) => s.name);
    expect(names).toEqual(['recovery', 'laptop', 'recovery-2']);
    expectCleanError(hcFd3(['key', 'slots', file, 'remove', 'nosuch'], 'x\n'), ExitCode.USAGE, /no slot named nosuch/);
    expectCleanError(hc(['key', 'slots', file, 'frobnicate']), ExitCode.USAGE, /unknown action "frobnicate"/);
  });

  describe.skipIf(skipUnless('keyring', 'CLI keyring tests'))('with the kernel keyring', () => {
    it('key unwrap puts the key in the keyring; keyring list and forget see it', () => {
      const { file, keyId } = create('unwrap me');
      const u = hc(['key', 'unwrap', file, '--passphrase-fd', '0', '--json'], 'unwrap me\n');
      expect(u.code, u.stderr).toBe(0);
      inserted.push(keyId);
      const j = JSON.parse(u.stdout);
      expect(j).toMatchObject({ keyId, slot: 'login' });
      const desc = spawnSync('keyctl', ['describe', String(j.serial)], { encoding: 'utf8' }).stdout;
      expect(desc).toContain(`user: homecrypt:${keyId}`);
      expect(JSON.parse(hc(['keyring', 'list', '--json']).stdout)).toContainEqual({ keyId, serial: j.serial });
      expect(hc(['keyring', 'list']).stdout).toMatch(new RegExp(`^${keyId}  ${j.serial}$`, 'm'));
      expect(hc(['keyring', 'forget', keyId]).stdout).toBe(`Forgot key ${keyId}.\n`);
      expect(JSON.parse(hc(['keyring', 'list', '--json']).stdout)).not.toContainEqual({ keyId, serial: j.serial });
      expectCleanError(hc(['keyring', 'forget', keyId]), ExitCode.KEY_NOT_AVAILABLE, /is not in your keyring/);
      expectCleanError(hc(['keyring', 'forget', 'nothex']), ExitCode.USAGE, /invalid key ID/);
    });

    it.skipIf(skipUnless('root', 'CLI keyring tests for another user'))("root unwraps into a user's keyring with --user: the user owns the key", () => {
      const u = createTestUser('hckc');
      try {
        const { file, keyId } = create('for the user');
        const r = hc(['key', 'unwrap', file, '--user', u.name, '--passphrase-fd', '0'], 'for the user\n');
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^Key ${keyId} is in ${u.name}'s keyring \\(serial (\\d+), opened with slot login\\)\\.\n$`));
        const serial = r.stdout.match(/serial (\d+)/)![1];
        const d = asUser(u, `keyctl describe ${serial}`);
        expect(d.stdout).toMatch(new RegExp(`^\\s*${serial}: alswrvalswrv------------\\s+${u.uid}\\s+${u.gid} user: homecrypt:${keyId}$`, 'm'));
        expect(JSON.parse(hc(['keyring', 'list', '--user', u.name, '--json']).stdout)).toEqual([{ keyId, serial: Number(serial) }]);
        expect(JSON.parse(hc(['keyring', 'list', '--json']).stdout)).not.toContainEqual({ keyId, serial: Number(serial) });
        expect(hc(['keyring', 'forget', keyId, '--user', u.name]).code).toBe(0);
        expect(asUser(u, `keyctl search @u user homecrypt:${keyId}`).code).not.toBe(0);
        expectCleanError(hc(['keyring', 'list', '--user', 'no-such-user-x']), ExitCode.USAGE, /no such user/);
      } finally {
        removeTestUser(u);
      }
    });
  });

  it('reads exactly the lines it needs from the descriptor and leaves the rest', () => {
    const { file } = create('first passphrase');
    const r = spawnSync('sh', ['-c', `"${BIN}" rewrap "${file}" --passphrase-fd 0 >/dev/null && cat`], {
      input: 'first passphrase\nsecond passphrase\nfor the next reader\n',
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('for the next reader\n');
  });

  it('rewrap changes the login passphrase; --recovery sets one with the recovery key', () => {
    const { file, keyId, recoveryKey } = create('old passphrase');
    const r1 = hc(['rewrap', file, '--passphrase-fd', '0', '--json'], 'old passphrase\nnew passphrase\n');
    expect(r1.code, r1.stderr).toBe(0);
    expect(JSON.parse(r1.stdout)).toMatchObject({ keyId, slot: 'login', openedWith: 'login' });
    expectCleanError(hc(['rewrap', file, '--passphrase-fd', '0'], 'old passphrase\nx\n'), ExitCode.WRONG_PASSPHRASE, /wrong passphrase/);
    const r2 = hc(['rewrap', file, '--recovery', '--passphrase-fd', '0'], `${recoveryKey.toLowerCase()}\nnewest pw\n`);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toBe(`New login passphrase set for ${file} (key ID ${keyId}).\n`);
    expectCleanError(hc(['rewrap', file, '--recovery', '--passphrase-fd', '0'], 'newest pw\nx\n'), ExitCode.USAGE, /not a recovery key/);
    const slots = JSON.parse(hc(['key', 'slots', file, '--json']).stdout).slots;
    expect(slots.map((s: { name: string }) => s.name)).toEqual(['login', 'recovery']);
    expect(hc(['rewrap', file, '--passphrase-fd', '0'], 'newest pw\nfinal pw\n').code).toBe(0);
  });

  it('wrong passphrase, recovery-key typo, wrong recovery key: exit code 3 and a clear line', () => {
    const { file, recoveryKey } = create('right passphrase');
    expectCleanError(
      hc(['key', 'unwrap', file, '--passphrase-fd', '0'], 'wrong\n'),
      ExitCode.WRONG_PASSPHRASE,
      new RegExp(`^homecrypt: ${file}: wrong passphrase`),
    );
    const typo = recoveryKey[6] === 'A' ? 'B' : 'A';
    const typed = recoveryKey.slice(0, 6) + typo + recoveryKey.slice(7);
    expectCleanError(hc(['key', 'unwrap', file, '--passphrase-fd', '0'], `${typed}\n`), ExitCode.WRONG_PASSPHRASE, /typo in recovery key: group 2/);
    const other = create('x passphrase').recoveryKey;
    expectCleanError(
      hc(['key', 'unwrap', file, '--passphrase-fd', '0'], `${other}\n`),
      ExitCode.WRONG_PASSPHRASE,
      /recovery key is well-formed but opens no slot/,
    );
  });

  it('corrupt, truncated, foreign, future, unsafe and missing files: clear errors with their own codes', () => {
    const { file } = create('pw passphrase');
    const bytes = readFileSync(file);
    const put = (name: string, content: Buffer | string, mode = 0o600) => {
      const p = join(dir, name);
      writeFileSync(p, content, { mode });
      chmodSync(p, mode);
      return p;
    };
    const truncated = put('truncated', bytes.subarray(0, 100));
    expectCleanError(hc(['key', 'unwrap', truncated, '--passphrase-fd', '0'], 'pw\n'), ExitCode.CORRUPT, new RegExp(`${truncated}: truncated`));
    const flipped = Buffer.from(bytes);
    flipped[40] ^= 1;
    const corrupt = put('corrupt', flipped);
    expectCleanError(hc(['key', 'slots', corrupt]), ExitCode.CORRUPT, new RegExp(`${corrupt}: checksum mismatch`));
    const foreign = put('foreign', '[Desktop Entry]\nName=x\n');
    expectCleanError(hc(['rewrap', foreign, '--passphrase-fd', '0'], 'a\nb\n'), ExitCode.CORRUPT, /not a homecrypt key store/);
    const future = Buffer.from(bytes);
    future[5] = 2;
    const fut = put('future', future);
    expectCleanError(hc(['key', 'slots', fut]), ExitCode.UNSUPPORTED, /key store version 2; this build reads version 1/);
    const open = put('open', bytes, 0o644);
    expectCleanError(hc(['key', 'unwrap', open, '--passphrase-fd', '0'], 'pw\n'), ExitCode.UNSAFE_PERMISSIONS, /mode 0644/);
    expectCleanError(hc(['key', 'slots', join(dir, 'absent')]), ExitCode.USAGE, /no such key store/);
    expectCleanError(hc(['key', 'unwrap', file, '--passphrase-fd', '0'], ''), ExitCode.USAGE, /end of input before secret 1/);
    expectCleanError(hc(['key', 'unwrap', file]), ExitCode.USAGE, /no terminal .* --passphrase-fd/);
    expectCleanError(hc(['key', 'create', join(dir, 'k'), '--kdf-time', 'fast']), ExitCode.USAGE, /--kdf-time/);
  });

  it('--help on every command', () => {
    for (const cmd of [['key', 'create'], ['key', 'slots'], ['key', 'unwrap'], ['rewrap'], ['keyring', 'list'], ['keyring', 'forget'], ['key'], ['keyring']]) {
      const r = hc([...cmd, '--help']);
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: homecrypt ${cmd.join(' ')} `));
    }
    expect(hc(['key', 'create', '--help']).stdout).toMatch(/--kdf-time <seconds>[\s\S]*--passphrase-fd <n>[\s\S]*--json/);
    expect(hc(['rewrap', '--help']).stdout).toMatch(/--recovery/);
  });
});
