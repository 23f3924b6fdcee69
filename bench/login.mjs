// bench/login.sh: time of auth + open_session (and close_session) through PAM,
// plain stack vs the same stack with homecrypt's lines, default Argon2id.
// BASELINE=/path/to/another/built/checkout adds a third stack whose lines run
// that checkout's hook (same user, same key store), interleaved in the same
// rounds: before/after numbers of a change under the same load.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderStackLines } from '../dist/session/pam-config.js';
import { unwrapKeyStore } from '../dist/keys/key-store.js';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const BIN = new URL('../bin/homecrypt', import.meta.url).pathname;
const id = randomBytes(3).toString('hex');
const users = { plain: `hcbp${id}`, hc: `hcbh${id}` };
const password = `bench-${randomBytes(6).toString('hex')}`;
const svc = { plain: `homecrypt-bench-plain-${id}`, hc: `homecrypt-bench-${id}`, base: `homecrypt-bench-base-${id}` };
const LOG = '/var/log/homecrypt.log';
const BASELINE = process.env.BASELINE ? resolve(process.env.BASELINE) : undefined;
if (BASELINE && !existsSync(join(BASELINE, 'dist/cli/commands/login-hook.js'))) {
  throw new Error(`BASELINE=${BASELINE}: not a built checkout (no dist/cli/commands/login-hook.js)`);
}
const variants = BASELINE ? ['plain', 'base', 'hc'] : ['plain', 'hc'];
const userOf = (k) => users[k === 'base' ? 'hc' : k];
const BASE = [
  'auth [success=1 default=ignore] pam_unix.so',
  'auth requisite pam_deny.so',
  'auth required pam_permit.so',
  'account required pam_unix.so',
  'session required pam_unix.so',
];

function sh(cmd, args, input) {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function cleanup() {
  for (const k of ['plain', 'hc']) {
    spawnSync('pamtester', [svc[k], users[k], 'close_session'], { stdio: 'ignore' });
    spawnSync('umount', ['-l', `/home/${users[k]}`], { stdio: 'ignore' });
    spawnSync('pkill', ['-KILL', '-U', users[k]], { stdio: 'ignore' });
    spawnSync('userdel', ['--remove', users[k]], { stdio: 'ignore' });
    rmSync(`/home/${users[k]}`, { recursive: true, force: true });
    rmSync(`/etc/pam.d/${svc[k]}`, { force: true });
  }
  for (const f of [svc.base, `${svc.base}-lines`, `${svc.hc}-lines`]) rmSync(`/etc/pam.d/${f}`, { force: true });
  rmSync(`/home/.homecrypt/${users.hc}`, { recursive: true, force: true });
  rmSync(`/etc/homecrypt/users/${users.hc}.json`, { force: true });
  rmSync(`/run/homecrypt/sessions/${users.hc}`, { force: true });
}

function timed(fn) {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const median = (xs) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;

try {
  for (const k of ['plain', 'hc']) {
    sh('useradd', ['--create-home', '--shell', '/bin/bash', users[k]]);
    sh('chpasswd', [], `${users[k]}:${password}\n`);
  }
  writeFileSync(`/etc/pam.d/${svc.plain}`, `${BASE.join('\n')}\n`);
  writeFileSync(`/etc/pam.d/${svc.hc}-lines`, renderStackLines());
  writeFileSync(`/etc/pam.d/${svc.hc}`, `${BASE.join('\n')}\n@include ${svc.hc}-lines\n`);
  if (BASELINE) {
    // the pam_exec lines: a BASELINE from before pam_homecrypt.so knows no 'module' phase
    writeFileSync(`/etc/pam.d/${svc.base}-lines`, renderStackLines(join(BASELINE, 'pam/homecrypt-pam-hook'), 'exec'));
    writeFileSync(`/etc/pam.d/${svc.base}`, `${BASE.join('\n')}\n@include ${svc.base}-lines\n`);
  }
  process.stderr.write('setting up the encrypted home (default KDF calibration)…\n');
  sh(process.execPath, [BIN, 'setup', '--user', users.hc, '--home', '--passphrase-fd', '0'], `${password}\n`);

  const kdf = [];
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint();
    const r = await unwrapKeyStore(`/home/.homecrypt/${users.hc}/homecrypt.keys`, Buffer.from(password));
    r.mountKey.fill(0);
    kdf.push(Number(process.hrtime.bigint() - t) / 1e6);
  }

  // the hooks' own log lines of each login, read right after it: where the time goes
  const logSize = () => {
    try {
      return statSync(LOG).size;
    } catch {
      return 0;
    }
  };
  const logSince = (off) => {
    try {
      return readFileSync(LOG).subarray(off).toString('utf8');
    } catch {
      return '';
    }
  };
  const res = {};
  for (const k of variants) res[k] = { open: [], close: [], added: [], unlock: [], mount: [], rest: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const k of variants) {
      const off = logSize();
      res[k].open.push(timed(() => sh('pamtester', [svc[k], userOf(k), 'authenticate', 'open_session'], `${password}\n`)));
      res[k].close.push(timed(() => sh('pamtester', [svc[k], userOf(k), 'close_session'])));
      if (k === 'plain') continue;
      const lines = logSince(off)
        .split('\n')
        .filter((l) => l.includes(` ${users.hc}: `));
      const pick = (re) => lines.map((l) => re.exec(l)).find(Boolean)?.[1];
      const u = pick(/unlocked into the user's keyring \((\d+) ms\)/);
      const m = pick(/mounted .* \(session 1, (\d+) ms\)/);
      // per round, against the plain login of the same round
      const added = res[k].open[i] - res.plain.open[i];
      res[k].added.push(added);
      res[k].unlock.push(Number(u ?? NaN)); // NaN (left out of medians) when the line is missing
      res[k].mount.push(Number(m ?? NaN));
      res[k].rest.push(added - Number(u ?? NaN) - Number(m ?? NaN));
    }
  }
  const k = median(kdf);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const po = median(res.plain.open);
  const pc = median(res.plain.close);
  const name = { base: `homecrypt login (BASELINE ${BASELINE})`, hc: 'homecrypt login (this checkout)' };
  console.log(`login cost of homecrypt (median of ${ROUNDS}; pamtester; default Argon2id; load avg ${load})`);
  console.log('');
  console.log('| stack | auth + open_session | added | of which unlock | mount | hook starts and the rest | close_session added |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  console.log(`| plain login | ${fmt(po)} | | | | | |`);
  for (const v of variants.filter((x) => x !== 'plain')) {
    const r = res[v];
    console.log(
      `| ${name[v]} | ${fmt(median(r.open))} | **${fmt(median(r.added))}** | ${fmt(median(r.unlock))} | ${fmt(median(r.mount))} | ${fmt(median(r.rest))} | ${fmt(median(r.close) - pc)} |`,
    );
  }
  console.log('');
  const added = median(res.hc.added);
  console.log(`key-store unlock alone (Argon2id, in-process): ${fmt(k)} = ${((k / added) * 100).toFixed(0)} % of what homecrypt adds`);
  console.log(
    'unlock = read key store + Argon2id + keyring (hook log); mount = the daemon started as the user until the FUSE mount is in the table (hook log);',
  );
  console.log('added, unlock, mount and the rest are medians over rounds, each round against the plain login of the same round;');
  console.log('the rest is starting the two hook processes (sh + node) under pam_exec and their own work');
  console.log(`target: at most 1.5 s added → ${added <= 1500 ? 'met' : 'NOT met'}`);
} finally {
  cleanup();
}
