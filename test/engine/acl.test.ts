// POSIX ACLs and trusted.* xattrs through an --allow-other mount run by root,
// the lower directory on a small loop-mounted ext4 (which has both). ACLs are
// the lower entries' own (docs/FORMAT-FILES.md, "Extended attributes"); the
// kernel enforces them (FUSE_POSIX_ACL). Another user is a bare uid/gid run
// through setpriv.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { skipUnless } from '../helpers/requirements.js';
import { asUser, makeVolume, type TestVolume } from './volume-helper.js';
import { lgetxattrSync, llistxattrSync } from '../../src/os/lower-fs-calls.js';

const OTHER = 64_231; // a uid and gid no account has
const haveAcl = spawnSync('setfacl', ['--version']).status === 0;

const sh = (cmd: string) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
const getfacl = (p: string) =>
  execFileSync('getfacl', ['-n', '-p', '-E', p], { encoding: 'utf8' })
    .replace(/^#.*\n/gm, '')
    .trim()
    .split('\n');
const py = (code: string, ...args: string[]) => `python3 -c '${code}' ${args.map((a) => `"${a}"`).join(' ')}`;
/** The lower entry of mount path `name` in the root directory (the only lower entry created after `before`). */
function lowerOf(v: TestVolume, before: Set<string>): string {
  const fresh = fs.readdirSync(v.lower).filter((n) => !before.has(n) && !n.endsWith('.name'));
  expect(fresh).toHaveLength(1);
  return join(v.lower, fresh[0]!);
}

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'ACLs and trusted xattrs') || (!haveAcl && 'setfacl (Debian acl) is absent'))(
  'POSIX ACLs and trusted.* on an --allow-other mount',
  () => {
    let v: TestVolume;
    beforeAll(() => {
      v = makeVolume({ allowOther: true, loopMiB: 32 });
      v.mount();
      fs.chmodSync(v.mnt, 0o755);
    });
    afterAll(() => v?.cleanup());

    it('an ACL entry grants another user read access, and removing it takes it away', () => {
      const before = new Set(fs.readdirSync(v.lower));
      const f = join(v.mnt, 'secret');
      fs.writeFileSync(f, 'for some eyes\n', { mode: 0o600 });
      fs.chmodSync(f, 0o600);
      const cat = () => asUser(OTHER, OTHER, `cat "${f}"`);
      expect(cat().stderr).toContain('Permission denied');

      execFileSync('setfacl', ['-m', `u:${OTHER}:r`, f]);
      expect(getfacl(f)).toEqual(['user::rw-', `user:${OTHER}:r--`, 'group::---', 'mask::r--', 'other::---']);
      expect(fs.statSync(f).mode & 0o777).toBe(0o640); // the group bits show the mask
      expect(cat()).toMatchObject({ code: 0, stdout: 'for some eyes\n' });
      // stored as the lower entry's own ACL, which says the same
      const lower = lowerOf(v, before);
      expect(getfacl(lower)).toEqual(getfacl(f));

      // chmod narrows the mask: the entry stays, no longer effective
      fs.chmodSync(f, 0o600);
      expect(getfacl(f)).toContain('mask::---');
      expect(cat().code).not.toBe(0);
      fs.chmodSync(f, 0o640);
      expect(cat().code).toBe(0);

      execFileSync('setfacl', ['-x', `u:${OTHER}`, f]);
      expect(getfacl(f)).not.toContain(`user:${OTHER}:r--`);
      expect(cat().stderr).toContain('Permission denied');
      execFileSync('setfacl', ['-b', f]);
      expect(getfacl(f)).toEqual(['user::rw-', 'group::---', 'other::---']); // as on ext4: -x recomputed the mask from group::---
      expect(fs.statSync(f).mode & 0o777).toBe(0o600);
    });

    it('a default ACL is inherited by new files and directories, whatever the umask', () => {
      const d = join(v.mnt, 'shared');
      fs.mkdirSync(d, { mode: 0o700 });
      execFileSync('setfacl', ['-m', `u:${OTHER}:rwx`, '-d', '-m', `u:${OTHER}:rw,m::rwx`, d]);
      // made with umask 077: POSIX ignores the umask where a default ACL applies
      expect(sh(`umask 077; echo new > "${d}/file"; mkdir "${d}/sub"`).status).toBe(0);
      const acl = getfacl(join(d, 'file'));
      expect(acl).toContain(`user:${OTHER}:rw-`);
      expect(acl).toContain('mask::rw-');
      expect(getfacl(join(d, 'sub'))).toContain(`default:user:${OTHER}:rw-`);
      expect(asUser(OTHER, OTHER, `echo more >> "${d}/file" && cat "${d}/file"`)).toMatchObject({ code: 0, stdout: 'new\nmore\n' });
      // without a default ACL the umask applies as always
      expect(sh(`umask 077; echo x > "${v.mnt}/plain"`).status).toBe(0);
      expect(fs.statSync(join(v.mnt, 'plain')).mode & 0o777).toBe(0o600);
    });

    it('a directory’s default ACL, kept by the engine for the creates in it, is read again after setfacl -d and setfacl -k', () => {
      const d = join(v.mnt, 'kept');
      fs.mkdirSync(d, { mode: 0o755 });
      const made = (name: string): string => {
        expect(sh(`umask 077; echo x > "${d}/${name}"`).status).toBe(0);
        return join(d, name);
      };
      // none yet (and the engine now holds "none" for the directory): the umask decides
      expect(fs.statSync(made('a')).mode & 0o777).toBe(0o600);
      execFileSync('setfacl', ['-d', '-m', `u:${OTHER}:rw`, d]);
      // now the default ACL decides, umask or not: the mask (the group bits) is rw-
      const b = made('b');
      expect(getfacl(b)).toContain(`user:${OTHER}:rw-`);
      expect(fs.statSync(b).mode & 0o070).toBe(0o060);
      expect(sh(`umask 077; mkdir "${d}/sub"`).status).toBe(0);
      expect(fs.statSync(join(d, 'sub')).mode & 0o070).toBe(0o070);
      execFileSync('setfacl', ['-k', d]); // the default ACL goes: the umask again
      expect(fs.statSync(made('c')).mode & 0o777).toBe(0o600);
    });

    it("setfacl by the owner from outside the file's group drops set-group-ID, as on ext4; a group member keeps it", () => {
      // the daemon (root) sets the ACL on the lower file, where ext4 would keep
      // the bit: the kernel's FUSE_SETXATTR_ACL_KILL_SGID says who asked
      const afterSetfacl = (p: string, gid: number): string => {
        fs.writeFileSync(p, '');
        fs.chownSync(p, OTHER, gid);
        fs.chmodSync(p, 0o2775);
        expect(fs.statSync(p).mode & 0o7777).toBe(0o2775);
        const r = asUser(OTHER, OTHER, `setfacl -m u:${OTHER + 5}:r "${p}" && stat -c %a "${p}"`);
        expect(r.stderr).toBe('');
        fs.unlinkSync(p);
        return r.stdout.trim();
      };
      const onExt4 = join(v.dir, 'fs', 'sgid-acl'); // the loop-mounted ext4 the lower directory is on
      const onMount = join(v.mnt, 'sgid-acl');
      expect(afterSetfacl(onExt4, OTHER + 1)).toBe('775');
      expect(afterSetfacl(onMount, OTHER + 1)).toBe('775');
      expect(afterSetfacl(onExt4, OTHER)).toBe('2775');
      expect(afterSetfacl(onMount, OTHER)).toBe('2775');
    });

    it('trusted.* xattrs: root sets and reads them, encrypted in the lower trusted namespace; others get EPERM and never see them', () => {
      const before = new Set(fs.readdirSync(v.lower));
      const f = join(v.mnt, 'tagged');
      fs.writeFileSync(f, 'x', { mode: 0o666 });
      fs.chmodSync(f, 0o666);
      expect(sh(py('import os,sys; os.setxattr(sys.argv[1], "trusted.tag", b"root-only value")', f)).status).toBe(0);
      expect(sh(py('import os,sys; print(os.getxattr(sys.argv[1], "trusted.tag").decode())', f)).stdout).toBe('root-only value\n');
      expect(sh(py('import os,sys; print(sorted(os.listxattr(sys.argv[1])))', f)).stdout).toContain("'trusted.tag'");

      const lower = lowerOf(v, before);
      const names = llistxattrSync(lower);
      const trusted = names.filter((n) => n.startsWith('trusted.'));
      expect(trusted).toHaveLength(1);
      expect(trusted[0]).not.toContain('tag');
      expect(lgetxattrSync(lower, trusted[0]!).includes('root-only')).toBe(false);

      // another user: the file is writable to everyone, trusted.* still refused
      const set = asUser(OTHER, OTHER, py('import os,sys; os.setxattr(sys.argv[1], "trusted.mine", b"v")', f));
      expect(set.stderr).toContain('PermissionError');
      expect(set.stderr).toContain('Operation not permitted');
      const list = asUser(OTHER, OTHER, py('import os,sys; print(sorted(os.listxattr(sys.argv[1])))', f));
      expect(list).toMatchObject({ code: 0 });
      expect(list.stdout).not.toContain('trusted');
      expect(asUser(OTHER, OTHER, py('import os,sys; os.setxattr(sys.argv[1], "user.mine", b"v")', f)).code).toBe(0);
      expect(asUser(OTHER, OTHER, py('import os,sys; print(sorted(os.listxattr(sys.argv[1])))', f)).stdout).toContain("'user.mine'");
    });

    it('survives a remount', () => {
      v.umount();
      v.mount();
      expect(getfacl(join(v.mnt, 'shared', 'file'))).toContain(`user:${OTHER}:rw-`);
      expect(sh(py('import os,sys; print(os.getxattr(sys.argv[1], "trusted.tag").decode())', join(v.mnt, 'tagged'))).stdout).toBe('root-only value\n');
    });
  },
);
