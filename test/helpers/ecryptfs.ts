// Shared by the eCryptfs tests: manifests in the exact format the refvm job
// prints (so kernel and homecrypt views compare as text), and running commands
// as a throwaway uid with its own user keyring.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { keysFromMountPassphrase } from '../../src/ecryptfs/keys.js';
import { EcryptfsVolume } from '../../src/ecryptfs/ecryptfs-volume.js';
import { walkLower } from '../../src/ecryptfs/tree.js';
import type { AesKeyBytes } from '../../src/format/ecryptfs/constants.js';
import { bytesOfName, nameFromBytes } from '../../src/format/name-bytes.js';

export const VECTORS = new URL('../vectors/ecryptfs/', import.meta.url).pathname;
export const REPO = new URL('../../', import.meta.url).pathname;
export const BIN = join(REPO, 'bin/homecrypt');

// Names are bytes: a path is a string in the form of src/format/name-bytes.ts
// (a byte that is not UTF-8 is a lone surrogate), sorted by its bytes as
// `LC_ALL=C sort` does, and given to Node's fs as its bytes (`at`).
const at = bytesOfName;
const byBytes = (a: string, b: string) => Buffer.compare(at(a), at(b));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Manifest of a plaintext directory, as `find | LC_ALL=C sort` + stat/sha256sum/readlink print it (names byte-exact, see above). */
export function plainManifest(dir: string): string {
  const paths: string[] = [];
  const walk = (rel: string) => {
    for (const n of readdirSync(at(join(dir, rel)), { encoding: 'buffer' }).map(nameFromBytes)) {
      const r = rel ? `${rel}/${n}` : n;
      paths.push(r);
      if (lstatSync(at(join(dir, r))).isDirectory()) walk(r);
    }
  };
  walk('');
  return (
    paths
      .sort((a, b) => byBytes(`./${a}`, `./${b}`))
      .map((p) => {
        const abs = at(join(dir, p));
        const st = lstatSync(abs);
        if (st.isSymbolicLink()) return `l\t./${p}\t${nameFromBytes(readlinkSync(abs, { encoding: 'buffer' }))}`;
        if (st.isDirectory()) return `d\t./${p}`;
        const d = readFileSync(abs);
        return `f\t./${p}\t${d.length}\t${sha(d)}`;
      })
      .join('\n') + '\n'
  );
}

/** Manifest of an eCryptfs lower tree, decrypted by homecrypt without mounting. */
export function lowerManifest(vol: EcryptfsVolume): string {
  const lines: { path: string; line: string }[] = [];
  for (const e of walkLower(vol)) {
    if (e.type === 'd') lines.push({ path: e.path, line: `d\t./${e.path}` });
    else if (e.type === 'l') lines.push({ path: e.path, line: `l\t./${e.path}\t${e.target}` });
    else {
      const f = vol.openFile(e.lowerPath, false);
      try {
        const d = f.readAll();
        lines.push({ path: e.path, line: `f\t./${e.path}\t${d.length}\t${sha(d)}` });
      } finally {
        f.close();
      }
    }
  }
  return (
    lines
      .sort((a, b) => byBytes(`./${a.path}`, `./${b.path}`))
      .map((l) => l.line)
      .join('\n') + '\n'
  );
}

const keyCache = new Map<string, ReturnType<typeof keysFromMountPassphrase>>();

/** Opens a lower tree; derived keys are cached per (passphrase, options): the KDF is 65536 SHA-512s. */
export function openVectorVolume(lowerDir: string, passphrase: string, keyBytes: AesKeyBytes, encryptNames: boolean): EcryptfsVolume {
  const id = `${passphrase}|${keyBytes}|${encryptNames}`;
  let keys = keyCache.get(id);
  if (!keys) keyCache.set(id, (keys = keysFromMountPassphrase(Buffer.from(passphrase), { keyBytes, encryptNames })));
  return new EcryptfsVolume({ lowerDir, keys, keyBytes });
}

let nextUid = 400000 + Math.floor(Math.random() * 50000) * 10;

/**
 * Runs `script` (sh) as a fresh uid in a new session keyring linked to its own
 * user keyring, inside a private mount namespace where /sys/fs/ecryptfs/version
 * exists (ecryptfs-add-passphrase --fnek checks it; this kernel has no eCryptfs
 * module, which the key operations do not need). Nothing is shared with root.
 */
export function runAsThrowawayUser(script: string, input: string, fakeSysfsDir: string): { stdout: string; stderr: string; status: number } {
  const uid = nextUid++;
  const inner = `keyctl link @u @s >/dev/null; ${script}; rc=$?; keyctl clear @u; exit $rc`;
  const outer = `mount --make-rprivate / && mount --bind ${fakeSysfsDir} /sys/fs && exec setpriv --reuid=${uid} --regid=${uid} --clear-groups keyctl session - sh -c '${inner.replace(/'/g, `'\\''`)}'`;
  const r = spawnSync('unshare', ['-m', 'sh', '-c', outer], { input, encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

/** The manifest script of the refvm job, to run as another user over a mount root cannot enter. */
export const MANIFEST_SH = `cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r f; do
  if [ -L "$f" ]; then printf 'l\\t%s\\t%s\\n' "$f" "$(readlink "$f")"
  elif [ -d "$f" ]; then printf 'd\\t%s\\n' "$f"
  else printf 'f\\t%s\\t%s\\t%s\\n' "$f" "$(stat -c %s "$f")" "$(sha256sum < "$f" | cut -d' ' -f1)"; fi
done`;
