// Runs a shell script inside Debian's reference kernel under qemu (TCG), with a
// host folder at /host, through ../shared/refvm/refvm.sh. That kernel has the
// eCryptfs and dm-crypt this machine's kernel lacks, so interop is checked there.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const REFVM_SH = resolve(repoRoot, '../shared/refvm/refvm.sh');

/** The installed Debian kernel version refvm should boot (refvm.sh pins one by default). */
export function refvmKernelVersion(): string | null {
  if (!existsSync('/boot')) return null;
  const kernels = readdirSync('/boot')
    .filter((f) => /^vmlinuz-.*-amd64$/.test(f))
    .sort();
  return kernels.length ? kernels[kernels.length - 1].slice('vmlinuz-'.length) : null;
}

/** Null when refvm can run here, else why not. */
export function refvmAbsentReason(): string | null {
  if (!existsSync(REFVM_SH)) return `refvm not found at ${REFVM_SH}`;
  if (!refvmKernelVersion()) return 'no Debian kernel in /boot (./run installs linux-image-amd64)';
  return null;
}

export interface RefvmResult {
  code: number;
  output: string;
}

export interface RefvmOptions {
  args?: string[];
  disks?: string[];
  memMiB?: number;
  timeoutSeconds?: number;
  share?: '9p' | 'disk';
}

export function runInRefvm(hostDir: string, script: string, opts: RefvmOptions = {}): Promise<RefvmResult> {
  const argv: string[] = [];
  if (opts.share) argv.push('--share', opts.share);
  for (const d of opts.disks ?? []) argv.push('--disk', d);
  if (opts.memMiB) argv.push('-m', String(opts.memMiB));
  argv.push('--timeout', String(opts.timeoutSeconds ?? 300), hostDir, script, ...(opts.args ?? []));
  const env = { ...process.env, REFVM_KVER: process.env.REFVM_KVER ?? refvmKernelVersion() ?? '' };
  return new Promise((res) => {
    execFile('bash', [REFVM_SH, ...argv], { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      res({ code, output: `${stdout}${stderr}` });
    });
  });
}
