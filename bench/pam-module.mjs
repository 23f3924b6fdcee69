// bench/pam-module.sh: what homecrypt's PAM lines cost a user WITHOUT homecrypt
// (issue 14, must show 7: under 20 ms). One account, three stacks, interleaved
// in the same rounds: plain (pam_unix only), + the pam_homecrypt.so lines,
// + the pam_exec fallback lines. pamtester authenticate open_session
// close_session, wall time per login.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { HOOK_PATH, renderStackLines } from '../dist/session/pam-config.js';

const ROUNDS = Number(process.env.ROUNDS ?? 30);
const id = randomBytes(3).toString('hex');
const user = `hcbm${id}`;
const password = `bench-${randomBytes(6).toString('hex')}`;
const MODULE = new URL('../dist/pam/pam_homecrypt.so', import.meta.url).pathname;
const svc = { plain: `homecrypt-bench-m0-${id}`, module: `homecrypt-bench-m1-${id}`, exec: `homecrypt-bench-m2-${id}` };
const BASE = [
  'auth [success=1 default=ignore] pam_unix.so',
  'auth requisite pam_deny.so',
  'auth required pam_permit.so',
  'account required pam_unix.so',
  'session required pam_unix.so',
].join('\n');

function sh(cmd, args, input) {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const ms = (x) => `${x.toFixed(1)} ms`;

try {
  sh('useradd', ['--create-home', '--shell', '/bin/bash', user]);
  sh('chpasswd', [], `${user}:${password}\n`);
  writeFileSync(`/etc/pam.d/${svc.plain}`, `${BASE}\n`);
  writeFileSync(`/etc/pam.d/${svc.module}`, `${BASE}\n${renderStackLines(HOOK_PATH, 'module', MODULE)}`);
  writeFileSync(`/etc/pam.d/${svc.exec}`, `${BASE}\n${renderStackLines(HOOK_PATH, 'exec')}`);
  const t = { plain: [], module: [], exec: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const k of Object.keys(t)) {
      const s = process.hrtime.bigint();
      sh('pamtester', [svc[k], user, 'authenticate', 'open_session', 'close_session'], `${password}\n`);
      t[k].push(Number(process.hrtime.bigint() - s) / 1e6);
    }
  }
  const p = median(t.plain);
  // per round, against the plain login of the same round
  const added = (k) => median(t[k].map((x, i) => x - t.plain[i]));
  const load = spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.split(' ').slice(0, 3).join(' ');
  console.log(`login of a user without homecrypt (pamtester authenticate open_session close_session; median of ${ROUNDS}; load avg ${load})`);
  console.log('');
  console.log('| stack | login | added | ratio to plain |');
  console.log('|---|---:|---:|---:|');
  console.log(`| plain (pam_unix) | ${ms(p)} | | 1.00 |`);
  console.log(`| + pam_homecrypt.so lines | ${ms(median(t.module))} | **${ms(added('module'))}** | ${(median(t.module) / p).toFixed(2)} |`);
  console.log(`| + pam_exec fallback lines | ${ms(median(t.exec))} | ${ms(added('exec'))} | ${(median(t.exec) / p).toFixed(2)} |`);
  console.log('');
  console.log(`target (issue 14): the module adds under 20 ms → ${added('module') < 20 ? 'met' : 'NOT met'}`);
} finally {
  spawnSync('userdel', ['--remove', user], { stdio: 'ignore' });
  for (const s of Object.values(svc)) rmSync(`/etc/pam.d/${s}`, { force: true });
}
