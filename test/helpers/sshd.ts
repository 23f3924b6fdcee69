// A real OpenSSH server for login tests, on a loopback port, using a test PAM
// service: sshd names its PAM service after the program name, so it runs
// through a symlink called like the service.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Sshd {
  port: number;
  dir: string;
  stop(): Promise<void>;
  log(): string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((res) => {
      const c = connect(port, '127.0.0.1', () => {
        c.destroy();
        res(true);
      });
      c.on('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on ${port}`);
}

export async function startSshd(pamService: string, allowUsers: string[]): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), 'homecrypt-sshd-'));
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      // public keys outside the homes, which may be locked when sshd looks (docs/LOGIN.md)
      'UsePAM yes',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}/%u`,
      'PermitRootLogin no',
      `AllowUsers ${allowUsers.join(' ')}`,
      'StrictModes no',
      'LogLevel VERBOSE',
      'PrintMotd no',
      'PrintLastLog no',
      'AcceptEnv none',
      '',
    ].join('\n'),
  );
  const prog = join(dir, pamService);
  symlinkSync('/usr/sbin/sshd', prog);
  let output = '';
  const child: ChildProcess = spawn(prog, ['-D', '-e', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (c) => {
    output += c;
  });
  child.stderr!.on('data', (c) => {
    output += c;
  });
  await waitForPort(port, 10_000);
  return {
    port,
    dir,
    log: () => output,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => {
        if (child.exitCode !== null) r(null);
        else child.on('exit', r);
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Lets `user` log in with a new key pair; returns the private key's path. */
export function addUserKey(sshd: Sshd, user: string): string {
  const key = join(sshd.dir, `id_${user}`);
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  // sshd reads authorized keys as the user: the path must be traversable
  chmodSync(sshd.dir, 0o755);
  mkdirSync(join(sshd.dir, 'authorized_keys'), { recursive: true, mode: 0o755 });
  writeFileSync(join(sshd.dir, 'authorized_keys', user), readFileSync(`${key}.pub`), { mode: 0o644 });
  return key;
}

/** ssh with a key only (no password can be typed). */
export function sshRunWithKey(port: number, user: string, key: string, command: string, timeoutMs = 60_000): Promise<SshResult> {
  return new Promise((resolve) => {
    const child = spawn(
      'ssh',
      [
        '-p',
        String(port),
        '-i',
        key,
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'PreferredAuthentications=publickey',
        '-o',
        'BatchMode=yes',
        '-o',
        'LogLevel=ERROR',
        `${user}@127.0.0.1`,
        command,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => {
      stdout += c;
    });
    child.stderr!.on('data', (c) => {
      stderr += c;
    });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

export interface SshResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** ssh USER@127.0.0.1 COMMAND with a password, given to sshpass through a pipe (fd 3). */
export function sshRun(port: number, user: string, password: string, command: string, timeoutMs = 60_000): Promise<SshResult> {
  return new Promise((resolve) => {
    const child = spawn(
      'sshpass',
      [
        '-d',
        '3',
        'ssh',
        '-p',
        String(port),
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'PreferredAuthentications=password',
        '-o',
        'PubkeyAuthentication=no',
        '-o',
        'LogLevel=ERROR',
        '-o',
        'BatchMode=no',
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'IdentityFile=/dev/null',
        `${user}@127.0.0.1`,
        command,
      ],
      { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => {
      stdout += c;
    });
    child.stderr!.on('data', (c) => {
      stderr += c;
    });
    const pw = child.stdio[3] as NodeJS.WritableStream;
    pw.end(`${password}\n`);
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
