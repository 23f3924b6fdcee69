// The login hook must not outlive the PAM process that runs it: pam_exec waits
// for it, and when that process is gone (sshd's LoginGraceTime, a killed
// login) nobody does, yet the hook would go on holding the user's lock and
// doing root work. prctl(PR_SET_PDEATHSIG) has the kernel kill it then.
import { libcFn } from './libc.js';

const PR_SET_PDEATHSIG = 1;
const SIGKILL = 9;

/** Dies (SIGKILL) when the parent process dies; returns false if it was already gone. */
export function dieWithParent(): boolean {
  const getppid = libcFn('int getppid(void)');
  const prctl = libcFn('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)');
  const parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) !== 0) return true; // unsupported: the deadline still bounds the hook
  // the parent may have died before the prctl: then we were re-parented already
  return parent !== 1 && getppid() === parent;
}
