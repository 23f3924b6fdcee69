// Starts bench/bridge-serve.mjs (a filesystem served through the kernel
// bridge) for the tests of this folder, and resolves once it says "ready".
import { spawn, type ChildProcess } from 'node:child_process';

const SERVE = new URL('../../../bench/bridge-serve.mjs', import.meta.url).pathname;

export interface Served {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** What it wrote to stderr so far (with HOMECRYPT_BRIDGE_STATS: the request counts at its exit). */
  stderr(): string;
}

export async function serve(kind: 'passthrough' | 'homecrypt', lower: string, mnt: string, env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const child = spawn(process.execPath, [SERVE, 'kernel', kind, lower, mnt], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  await new Promise<void>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) res();
    });
    void exited.then((c) => rej(new Error(`bridge-serve ${kind} exited ${c}: ${err}`)));
  });
  return { child, exited, stderr: () => err };
}
