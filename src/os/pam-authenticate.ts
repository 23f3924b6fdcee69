// libpam through koffi: checks a user's password against the system exactly as
// a login would (pam_start + pam_authenticate + pam_acct_mgmt), so setup never
// wraps the mount key with a typo of the real password.
import koffi from 'koffi';
import type * as K from 'koffi';
import { libc as libcLibrary, nativeLibrary } from './libc.js';
import { MissingFeatureError } from '../errors.js';

const PAM_SUCCESS = 0;
const PAM_PROMPT_ECHO_OFF = 1;
const PAM_PROMPT_ECHO_ON = 2;
const PAM_CONV_ERR = 19;
const PAM_SILENT = 0x8000;
const PAM_DISALLOW_NULL_AUTHTOK = 0x1;

interface Libpam {
  pam_start: (...a: unknown[]) => number;
  pam_authenticate: (h: unknown, flags: number) => number;
  pam_acct_mgmt: (h: unknown, flags: number) => number;
  pam_end: (h: unknown, status: number) => number;
  pam_strerror: (h: unknown, code: number) => string;
  calloc: (n: number, size: number) => unknown;
  strdup: (s: Buffer) => unknown;
  types: { message: K.TypeObject; response: K.TypeObject; conv: K.TypeObject; convFn: K.TypeObject };
}

let cached: Libpam | null = null;
function libpam(): Libpam {
  if (cached) return cached;
  let pam: K.LibraryHandle;
  try {
    pam = nativeLibrary('libpam.so.0');
  } catch {
    throw new MissingFeatureError('libpam.so.0 is not installed (Debian package libpam0g)');
  }
  const libc = libcLibrary();
  const message = koffi.struct('hc_pam_message', { msg_style: 'int', msg: 'const char *' });
  const response = koffi.struct('hc_pam_response', { resp: 'void *', resp_retcode: 'int' });
  const convFn = koffi.proto('int hc_pam_conv_fn(int num_msg, void *msg, void *resp, void *appdata)');
  const conv = koffi.struct('hc_pam_conv', { conv: koffi.pointer(convFn), appdata_ptr: 'void *' });
  cached = {
    pam_start: pam.func('int pam_start(const char *service, const char *user, const hc_pam_conv *conv, _Out_ void **pamh)'),
    pam_authenticate: pam.func('int pam_authenticate(void *pamh, int flags)'),
    pam_acct_mgmt: pam.func('int pam_acct_mgmt(void *pamh, int flags)'),
    pam_end: pam.func('int pam_end(void *pamh, int status)'),
    pam_strerror: pam.func('const char *pam_strerror(void *pamh, int errnum)'),
    calloc: libc.func('void *calloc(size_t nmemb, size_t size)'),
    strdup: libc.func('void *strdup(const void *s)'),
    types: { message, response, conv, convFn },
  };
  return cached;
}

export interface PamCheckResult {
  ok: boolean;
  reason: string;
}

/**
 * Authenticates `user` with `password` through the PAM service `service`
 * (a missing service falls back to /etc/pam.d/other). The password is handed
 * to PAM in C memory that PAM itself frees; the caller wipes its Buffer.
 */
export function checkPassword(service: string, user: string, password: Buffer): PamCheckResult {
  const L = libpam();
  const withNul = Buffer.alloc(password.length + 1);
  password.copy(withNul);
  const respSize = koffi.sizeof(L.types.response);
  try {
    const conversation = (num: number, msgs: unknown, respOut: unknown): number => {
      try {
        const arr = L.calloc(num, respSize);
        if (!arr) return PAM_CONV_ERR;
        // Linux-PAM passes an array of pointers to messages
        const ptrs = koffi.decode(msgs, koffi.array('void *', num)) as unknown[];
        for (let i = 0; i < num; i++) {
          const m = koffi.decode(ptrs[i], L.types.message) as { msg_style: number };
          if (m.msg_style === PAM_PROMPT_ECHO_OFF || m.msg_style === PAM_PROMPT_ECHO_ON) {
            koffi.encode(arr, i * respSize, 'void *', L.strdup(withNul));
          }
        }
        koffi.encode(respOut, 0, 'void *', arr);
        return PAM_SUCCESS;
      } catch {
        return PAM_CONV_ERR;
      }
    };
    const cb = koffi.register(conversation, koffi.pointer(L.types.convFn));
    try {
      const handle = [null];
      let rc = L.pam_start(service, user, { conv: cb, appdata_ptr: null }, handle);
      if (rc !== PAM_SUCCESS) return { ok: false, reason: `pam_start failed (${rc})` };
      const h = handle[0];
      rc = L.pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
      let reason = rc === PAM_SUCCESS ? 'ok' : L.pam_strerror(h, rc);
      if (rc === PAM_SUCCESS) {
        rc = L.pam_acct_mgmt(h, PAM_SILENT);
        if (rc !== PAM_SUCCESS) reason = L.pam_strerror(h, rc);
      }
      L.pam_end(h, rc);
      return { ok: rc === PAM_SUCCESS, reason };
    } finally {
      koffi.unregister(cb);
    }
  } finally {
    withNul.fill(0);
  }
}
