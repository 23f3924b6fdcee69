// Issue 9, the package as a user gets it: built by `./run package`'s script,
// checked by lintian, installed with apt-get into a clean Debian root
// (debootstrap, with Debian's own nodejs 18), used there (version, man pages,
// completion, a Private directory unlocked by a PAM login), upgraded, and
// purged, after which PAM must be exactly as before and the user's data untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { ChrootSession } from '../helpers/debootstrap.js';
import { HOMECRYPT_TARGET_PACKAGES } from '../helpers/debootstrap-roots.js';

const repo = resolve(import.meta.dirname, '../..');
const upstreamVersion = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version as string;

const PAM_STACKS = ['common-auth', 'common-account', 'common-password', 'common-session', 'common-session-noninteractive'];
const USER = 'hcpkg';
const PASSWORD = 'correct horse battery staple 9';

// debootstrap itself is installed by ./run, so only a missing kernel feature skips.
const skip = skipUnless('root', 'fuse', 'package suite (apt-get into a debootstrap root)');

function buildDeb(outDir: string, revision: number): string {
  const out = execFileSync('bash', [join(repo, 'packaging/build-deb.sh'), '--out', outDir, '--revision', String(revision)], {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
  return out.trim().split('\n').pop()!;
}

/**
 * The same build as a newer Debian revision (what an upgrade installs): the
 * package unpacked, its Version bumped, packed again. Cheaper than a second
 * build, and the upgrade path dpkg takes (prerm upgrade, unpack over the old
 * files, postinst configure OLD-VERSION) is the same.
 */
function bumpRevision(deb: string, outDir: string, revision: number): string {
  const tree = join(outDir, 'tree');
  execFileSync('dpkg-deb', ['-R', deb, tree]);
  const control = join(tree, 'DEBIAN/control');
  const text = readFileSync(control, 'utf8').replace(/^Version: (.*)-\d+$/m, `Version: $1-${revision}`);
  writeFileSync(control, text);
  const out = join(outDir, `homecrypt_${upstreamVersion}-${revision}_amd64.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '-z1', '--build', tree, out], { stdio: 'ignore' });
  return out;
}

/**
 * lintian, started early: it takes tens of seconds on a loaded machine. Its
 * temporary files go to `tmp` (removed with the test's work directory): it
 * leaves one (/tmp/mldbm-elf-*) behind at every run otherwise.
 */
function lintianAsync(deb: string, tmp: string): Promise<{ code: number; stdout: string }> {
  return new Promise((res) => {
    const child = spawn('lintian', ['--no-tag-display-limit', deb], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, TMPDIR: tmp } });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.on('close', (code) => res({ code: code ?? -1, stdout }));
  });
}

describe.skipIf(skip)('the Debian package', () => {
  let work: string;
  let deb: string;
  let debUpgrade: string;
  let lint: Promise<{ code: number; stdout: string }>;
  let chroot: ChrootSession;
  const pamBefore = new Map<string, Buffer>();

  const readStacks = () => new Map(PAM_STACKS.map((f) => [f, readFileSync(chroot.path(`etc/pam.d/${f}`))]));
  /** Every path, mode, owner, size, mtime and content hash under the user's data. */
  const dataFingerprint = () =>
    chroot.must(
      `cd /home && find ${USER} /home/.homecrypt /etc/homecrypt -xdev \\( -path '${USER}/Private' -prune \\) -o -printf '%p %M %U:%G %s %T@ %l\\n' 2>/dev/null | sort; ` +
        `find ${USER} /etc/homecrypt -xdev -path '${USER}/Private' -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum`,
    );

  beforeAll(() => {
    work = mkdtempSync('/tmp/homecrypt-pkgtest-');
    deb = buildDeb(join(work, 'r1'), 1);
    lint = lintianAsync(deb, mkdtempSync(join(work, 'lintian-')));
    debUpgrade = bumpRevision(deb, mkdtempSync(join(work, 'r2-')), 2);
    chroot = ChrootSession.open({ packages: [...HOMECRYPT_TARGET_PACKAGES] });
    for (const [f, b] of readStacks()) pamBefore.set(f, b);
    // Each in a folder of its own, so `apt-get install ./homecrypt_*.deb` (what
    // the README tells users) names exactly one package.
    for (const [dir, file] of [
      ['new', deb],
      ['upgrade', debUpgrade],
    ] as const) {
      mkdirSync(chroot.path(`tmp/${dir}`));
      copyFileSync(file, chroot.path(`tmp/${dir}/${file.split('/').pop()}`));
    }
  }, 600_000);

  afterAll(() => {
    chroot?.dispose();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('is homecrypt_<version>-1_amd64 and says what it needs', () => {
    expect(deb.split('/').pop()).toBe(`homecrypt_${upstreamVersion}-1_amd64.deb`);
    const fields = execFileSync('dpkg-deb', ['-f', deb, 'Package', 'Architecture', 'Depends', 'Recommends'], { encoding: 'utf8' });
    expect(fields).toMatch(/^Architecture: amd64$/m);
    expect(fields).toMatch(/^Depends: .*nodejs \(>= 18\.19\)/m);
    expect(fields).toMatch(/^Depends: .*libfuse2/m);
    // ecryptfs-utils pulls ~60 packages into a minimal system and enables pam_ecryptfs: only suggested
    expect(fields).toMatch(/^Recommends: cryptsetup-bin$/m);
    expect(execFileSync('dpkg-deb', ['-f', deb, 'Suggests'], { encoding: 'utf8' })).toMatch(/^ecryptfs-utils\b/m);
  });

  it('installs with apt-get into a clean Debian root and runs on its nodejs 18', () => {
    expect(chroot.sh('command -v homecrypt').code).not.toBe(0);
    chroot.must('cd /tmp/new && apt-get install -y ./homecrypt_*.deb', { timeoutMs: 300_000 });
    expect(chroot.must('node --version').trim()).toMatch(/^v18\./);
    expect(chroot.must('command -v homecrypt').trim()).toBe('/usr/bin/homecrypt');
    expect(chroot.must('homecrypt --version').trim()).toBe(upstreamVersion);
    // The three native addons load under Debian's nodejs, not only the host's.
    chroot.must(`cd /usr/lib/homecrypt && node --input-type=module -e '
      const argon2 = await import("argon2");
      await argon2.hash("x", { timeCost: 1, memoryCost: 1024, parallelism: 1 });
      await import("fuse-native");
      (await import("koffi")).default.load("libc.so.6");'`);
  }, 300_000);

  it('enabled its PAM profile through pam-auth-update, changing only homecrypt lines', () => {
    const after = readStacks();
    for (const f of ['common-auth', 'common-session', 'common-password']) {
      expect(after.get(f)!.toString(), f).toMatch(/optional\s+pam_homecrypt\.so hook=\/usr\/lib\/homecrypt\/pam\/homecrypt-pam-hook$/m);
    }
    // the module is where PAM finds it by its bare name, and it loads
    expect(chroot.must('ls /lib/x86_64-linux-gnu/security/pam_homecrypt.so').trim()).toBe('/lib/x86_64-linux-gnu/security/pam_homecrypt.so');
    expect(execFileSync('dpkg-deb', ['-f', deb, 'Depends'], { encoding: 'utf8' })).toMatch(/libpam0g/);
    for (const f of PAM_STACKS) {
      const strip = (b: Buffer) =>
        b
          .toString()
          .split('\n')
          .filter((l) => !l.includes('homecrypt'))
          .join('\n');
      expect(strip(after.get(f)!), f).toBe(strip(pamBefore.get(f)!));
    }
  });

  it('installed the systemd units and enabled those with an [Install] section', () => {
    const units = chroot.must('ls /lib/systemd/system/ | grep ^homecrypt || true').trim().split('\n').filter(Boolean);
    expect(units.length).toBeGreaterThan(0);
    for (const unit of units) {
      const text = readFileSync(chroot.path(`lib/systemd/system/${unit}`), 'utf8');
      const enabled = chroot.sh(`ls /etc/systemd/system/*.wants/${unit}`).code === 0;
      expect(enabled, unit).toBe(!unit.includes('@') && /^\[Install\]/m.test(text));
    }
  });

  it('has a man page for homecrypt and each command group, readable with man', () => {
    // What the installed program offers, read from its own commander tree in one
    // node process: group -> subcommands and long options (as --help lists them).
    const tree = JSON.parse(
      chroot.must(`cd /usr/lib/homecrypt && node --input-type=module -e '
      const { buildProgram } = await import("/usr/lib/homecrypt/dist/cli/main.js");
      const p = buildProgram(); const h = p.createHelp(); const out = {};
      const walk = (c, acc) => { for (const o of h.visibleOptions(c)) if (o.long) acc.options.push(o.long);
        for (const s of h.visibleCommands(c)) if (s.name() !== "help") { acc.subs.push(s.name()); walk(s, acc); } };
      for (const g of h.visibleCommands(p)) if (g.name() !== "help") { out[g.name()] = { subs: [], options: [] }; walk(g, out[g.name()]); }
      console.log(JSON.stringify(out));'`),
    ) as Record<string, { subs: string[]; options: string[] }>;
    const groups = Object.keys(tree);
    expect(groups).toEqual(expect.arrayContaining(['setup', 'pam', 'key']));
    const pages = ['homecrypt', ...groups.map((g) => `homecrypt-${g}`)];
    // Every page rendered by man, in one shell: "=== page rc" then the text.
    const out = chroot.must(`for p in ${pages.join(' ')}; do t=$(MANWIDTH=200 man -P cat "$p" 2>&1); echo "=== $p $?"; printf '%s\n' "$t"; done`);
    const rendered = new Map<string, string>();
    for (const part of out.split(/^=== /m).slice(1)) {
      const [head, ...body] = part.split('\n');
      const [page, rc] = head.split(' ');
      expect(rc, `man ${page}: ${body.join('\n')}`).toBe('0');
      rendered.set(page, body.join('\n'));
    }
    for (const page of pages) {
      const text = rendered.get(page) ?? '';
      expect(text, page).toMatch(/^NAME$/m);
      expect(text, page).toMatch(/^SYNOPSIS$/m);
    }
    for (const g of groups) {
      const text = rendered.get(`homecrypt-${g}`)!;
      for (const sub of tree[g].subs) expect(text, `homecrypt-${g}(1) has ${sub}`).toMatch(new RegExp(`homecrypt ${g}\\b.*\\b${sub}\\b`));
      for (const opt of tree[g].options) expect(text, `homecrypt-${g}(1) has ${opt}`).toContain(opt);
    }
    const top = rendered.get('homecrypt')!;
    // the administrator's groups are in section 8 (man/build-man.mjs ADMIN_GROUPS)
    const admin = ['setup', 'pam', 'install', 'block', 'session', 'doctor'];
    for (const g of groups) expect(top).toContain(`homecrypt-${g}(${admin.includes(g) ? 8 : 1})`);
    expect(top).toMatch(/^EXIT STATUS$/m);
  });

  it('completes the commands and options of the installed program in bash', () => {
    const complete = (line: string) =>
      chroot
        .must(
          `bash -c '. /usr/share/bash-completion/bash_completion; . /usr/share/bash-completion/completions/homecrypt; ` +
            `COMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _homecrypt; printf "%s\\n" "\${COMPREPLY[@]}" | sort'`,
        )
        .trim()
        .split('\n')
        .filter(Boolean);
    const help = chroot.must('homecrypt --help');
    const groups = [...help.split(/^Commands:$/m)[1].matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]).sort();
    expect(complete(`homecrypt ""`)).toEqual(groups);
    expect(complete('homecrypt --ver')).toEqual(['--version']);
    expect(complete('homecrypt pam ""')).toContain('enable');
    expect(complete('homecrypt setup --us')).toEqual(['--user']);
    // an option's value is skipped, and --user offers the system's users
    expect(complete('homecrypt setup --passphrase-fd 3 --pri')).toEqual(['--private']);
    expect(complete('homecrypt setup --user ro')).toEqual(['root']);
  });

  const SERVICE = 'homecrypt-pkgtest';
  const NOTE = 'plaintext of the package suite';
  const privateDir = () => chroot.path(`home/${USER}/Private`);
  const isMounted = () =>
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[4] === privateDir() && / - fuse/.test(l));
  const waitMounted = async (want: boolean) => {
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
      if (isMounted() === want) return;
    }
    const log = chroot.sh('tail -n 20 /var/log/homecrypt.log').stdout;
    throw new Error(`~${USER}/Private is ${want ? 'still not mounted' : 'still mounted'}; homecrypt.log ends:\n${log}`);
  };
  const login = () => chroot.sh(`pamtester ${SERVICE} ${USER} authenticate open_session`, { input: `${PASSWORD}\n` });
  const logout = () => chroot.sh(`pamtester ${SERVICE} ${USER} close_session`);
  const asUser = (cmd: string) => chroot.sh(`setpriv --reuid ${USER} --regid ${USER} --init-groups sh -c '${cmd}'`);
  const readNote = () => asUser(`cat /home/${USER}/Private/note.txt`);

  it('sets up a Private directory with the installed copy, and a PAM login unlocks it', async () => {
    // A uid of its own (the installer suites take N000-N900 blocks): kernel keyrings
    // are per uid, shared with the host and every other chroot.
    chroot.must(`useradd -m -u 39913 -s /bin/sh ${USER}`);
    chroot.must('chpasswd', { input: `${USER}:${PASSWORD}\n` });
    const stacks = readStacks();
    chroot.must('homecrypt pam enable');
    for (const f of PAM_STACKS) expect(readStacks().get(f)!.equals(stacks.get(f)!), `pam enable kept ${f}`).toBe(true);
    // ...and rewrote the packaged profile with the very same bytes: dpkg sees no change.
    expect(chroot.must('dpkg --verify homecrypt')).toBe('');
    chroot.must(`homecrypt setup --user ${USER} --private --passphrase-fd 0 --kdf-time 0.05`, { input: `${PASSWORD}\n` });
    // A service made only of the system stacks, as every Debian service includes them.
    writeFileSync(chroot.path(`etc/pam.d/${SERVICE}`), '@include common-auth\n@include common-account\n@include common-session\n');

    const r = login();
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    await waitMounted(true);
    expect(asUser(`echo "${NOTE}" > /home/${USER}/Private/note.txt`).code).toBe(0);
    expect(readNote().stdout).toBe(`${NOTE}\n`);
    // Below, only ciphertext: neither the content nor the name shows.
    const lower = chroot.must(`find /home/${USER}/.Private -type f`);
    expect(lower).not.toContain('note');
    expect(chroot.sh(`grep -rlF "${NOTE}" /home/${USER}/.Private`).stdout).toBe('');
    expect(logout().code).toBe(0);
    await waitMounted(false);
    expect(readNote().code).not.toBe(0);
  }, 180_000);

  it('upgrades in place: PAM untouched, the live mount and the next login keep working, data untouched', async () => {
    const stacks = readStacks();
    const data = dataFingerprint();
    expect(login().code).toBe(0);
    await waitMounted(true);
    chroot.must('cd /tmp/upgrade && apt-get install -y ./homecrypt_*.deb', { timeoutMs: 300_000 });
    expect(chroot.must("dpkg-query -W -f='${Version}' homecrypt")).toBe(`${upstreamVersion}-2`);
    for (const f of PAM_STACKS) expect(readStacks().get(f)!.equals(stacks.get(f)!), f).toBe(true);
    expect(readNote().stdout).toBe(`${NOTE}\n`);
    expect(logout().code).toBe(0);
    await waitMounted(false);
    expect(dataFingerprint()).toBe(data);
    // The upgraded copy unlocks what the old one set up.
    expect(login().code).toBe(0);
    await waitMounted(true);
    expect(readNote().stdout).toBe(`${NOTE}\n`);
    expect(logout().code).toBe(0);
    await waitMounted(false);
  }, 300_000);

  // Either way of switching the profile off must leave dpkg's file alone and
  // survive an upgrade (pam-auth-update remembers it as seen and off).
  it.each([
    [
      "an administrator's pam-auth-update --disable",
      'DEBIAN_FRONTEND=noninteractive pam-auth-update --disable homecrypt',
      'DEBIAN_FRONTEND=noninteractive pam-auth-update --enable homecrypt',
    ],
    ['"homecrypt pam disable" of the installed copy', 'homecrypt pam disable', 'homecrypt pam enable'],
  ])(
    "%s switches the profile off, keeps the package's file, and stays off across an upgrade",
    (_who, disable, enable) => {
      const authStack = () => readStacks().get('common-auth')!.toString();
      chroot.must(disable);
      expect(authStack()).not.toContain('homecrypt');
      expect(chroot.must('dpkg --verify homecrypt')).toBe('');
      chroot.must('cd /tmp/upgrade && apt-get install -y --reinstall ./homecrypt_*.deb', { timeoutMs: 300_000 });
      expect(authStack()).not.toContain('homecrypt');
      chroot.must(enable);
      expect(authStack()).toContain('pam_homecrypt.so hook=');
      expect(chroot.must('dpkg --verify homecrypt')).toBe('');
    },
    300_000,
  );

  it("purges cleanly: PAM exactly as before, the user's data untouched", async () => {
    const data = dataFingerprint();
    const removal = chroot.must('apt-get purge -y homecrypt 2>&1', { timeoutMs: 300_000 });
    // the prerm names the users whose homes no longer unlock at login
    expect(removal).toContain(`homecrypt: WARNING: these users have homecrypt-encrypted directories: ${USER}`);
    expect(removal).toContain('homecrypt setup --undo --user NAME');
    for (const f of PAM_STACKS) {
      expect(readStacks().get(f)!.equals(pamBefore.get(f)!), `/etc/pam.d/${f} restored byte for byte`).toBe(true);
    }
    expect(chroot.sh('test -e /usr/share/pam-configs/homecrypt || test -e /usr/lib/homecrypt || test -e /usr/bin/homecrypt').code).not.toBe(0);
    expect(chroot.must('find /etc/systemd /var/lib/systemd /lib/systemd -name "*homecrypt*" 2>/dev/null || true')).toBe('');
    expect(chroot.must("dpkg-query -W -f='${db:Status-Abbrev}' homecrypt 2>&1 || true")).not.toMatch(/^ii/);
    expect(dataFingerprint()).toBe(data);
    expect(data).toContain('.homecrypt/homecrypt.keys');
    expect(data).toContain(`/etc/homecrypt/users/${USER}.json`);
    // Reinstalled, homecrypt opens the very same data at the next login.
    chroot.must('cd /tmp/upgrade && apt-get install -y ./homecrypt_*.deb', { timeoutMs: 300_000 });
    expect(login().code).toBe(0);
    await waitMounted(true);
    expect(readNote().stdout).toBe(`${NOTE}\n`);
    expect(logout().code).toBe(0);
    await waitMounted(false);
  }, 300_000);

  it('lintian finds no error in it', async () => {
    const { code, stdout } = await lint;
    const errors = stdout.split('\n').filter((l) => l.startsWith('E: '));
    expect(errors).toEqual([]);
    expect(code).toBe(0);
  }, 300_000);
});
