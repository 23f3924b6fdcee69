#!/usr/bin/env python3
# Runs a program with some system calls refused by a seccomp filter, as an
# older container runtime refuses calls newer than its filter:
#   seccomp-deny.py ERRNO NR[,NR...] -- PROGRAM ARGS...   (NR list may be empty: a filter that refuses nothing)
# Each listed call (x86_64 numbers) fails with ERRNO; every other call is let
# through. For tests of a fallback (src/os/lower-fs-calls.ts, getxattrat).
import ctypes, os, platform, struct, sys

if platform.machine() != 'x86_64':
    sys.exit('seccomp-deny.py: x86_64 only')
sep = sys.argv.index('--')
errno_, nrs = int(sys.argv[1]), [int(n) for n in sys.argv[2].split(',') if n]
AUDIT_ARCH_X86_64 = 0xC000003E
LD_ABS, JEQ, RET = 0x20, 0x15, 0x06
ALLOW, ERRNO, KILL = 0x7FFF0000, 0x00050000, 0
prog = [(LD_ABS, 0, 0, 4), (JEQ, 1, 0, AUDIT_ARCH_X86_64), (RET, 0, 0, KILL), (LD_ABS, 0, 0, 0)]
for i, nr in enumerate(nrs):
    # a match jumps to the ERRNO return after the remaining tests and the ALLOW
    prog.append((JEQ, len(nrs) - i, 0, nr))
prog += [(RET, 0, 0, ALLOW), (RET, 0, 0, ERRNO | errno_)]
code = ctypes.create_string_buffer(b''.join(struct.pack('=HBBI', *ins) for ins in prog))

class Fprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
fprog = Fprog(len(prog), ctypes.addressof(code))
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
    sys.exit('seccomp-deny.py: prctl: errno %d' % ctypes.get_errno())
os.execvp(sys.argv[sep + 1], sys.argv[sep + 1:])
