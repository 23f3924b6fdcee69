// A PAM service for tests (/etc/pam.d/homecrypt-test-*): the system's own
// pam_unix lines followed by the shipped homecrypt lines, exactly as rendered
// for this checkout (pam_homecrypt.so, or the pam_exec fallback), and
// pamtester to drive it.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { HOOK_PATH, renderStackLines, type PamFlavour } from '../../src/session/pam-config.js';

export interface PamService {
  name: string;
  linesFile: string;
  remove(): void;
}

export interface PamServiceOptions {
  flavour?: PamFlavour;
  /** extra account lines after pam_unix's (a pam_nologin that refuses, say) */
  account?: string[];
  /** more arguments on each pam_homecrypt.so line (timeout=3, say) */
  moduleArgs?: string[];
  /** the hook's deadline on each pam_exec.so line, in seconds, instead of the shipped 65 */
  execDeadline?: number;
}

export function createPamService(opts: PamServiceOptions = {}): PamService {
  const id = randomBytes(4).toString('hex');
  const name = `homecrypt-test-${id}`;
  const linesFile = `/etc/pam.d/homecrypt-test-${id}-lines`;
  // src/ runs from source here, so the module is named by its dist/ path explicitly
  const module = new URL('../../dist/pam/pam_homecrypt.so', import.meta.url).pathname;
  let lines = renderStackLines(HOOK_PATH, opts.flavour ?? 'module', module);
  if (opts.moduleArgs) lines = lines.replace(/^(\w+\s+optional\s+\S*pam_homecrypt\.so .*)$/gm, `$1 ${opts.moduleArgs.join(' ')}`);
  if (opts.execDeadline !== undefined) lines = lines.replace(/ --deadline=65 /g, ` --deadline=${opts.execDeadline} `);
  writeFileSync(linesFile, lines, { mode: 0o644 });
  writeFileSync(
    `/etc/pam.d/${name}`,
    [
      '# homecrypt test service: pam_unix as Debian stacks it, then the shipped lines',
      'auth	[success=1 default=ignore]	pam_unix.so',
      'auth	requisite	pam_deny.so',
      'auth	required	pam_permit.so',
      'account	required	pam_unix.so',
      ...(opts.account ?? []),
      'password	[success=1 default=ignore]	pam_unix.so yescrypt',
      'password	requisite	pam_deny.so',
      'password	required	pam_permit.so',
      'session	required	pam_unix.so',
      `@include homecrypt-test-${id}-lines`,
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  return {
    name,
    linesFile,
    remove() {
      rmSync(`/etc/pam.d/${name}`, { force: true });
      rmSync(linesFile, { force: true });
    },
  };
}

export interface PamResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** pamtester SERVICE USER OPS... with `input` as what the user types. */
export function pamtester(service: string, user: string, ops: string[], input = '', asUid?: number): PamResult {
  const argv =
    asUid === undefined
      ? ['pamtester', service, user, ...ops]
      : // like a setuid passwd run by the user: real uid the user, effective uid root
        ['setpriv', '--ruid', String(asUid), '--', 'pamtester', service, user, ...ops];
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8', timeout: 90_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
