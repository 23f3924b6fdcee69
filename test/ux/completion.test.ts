// Bash completion (issue 16): option values (--backend, --sector-size,
// --auto-mount), slot names of a key store, keyslot numbers of a LUKS2 device
// and the key IDs in the keyring, from the script completion/build-completion.mjs
// generates for the built program (the one the package installs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../..');
const BIN = join(REPO, 'bin');
const hasBashCompletion = existsSync('/usr/share/bash-completion/bash_completion');
let tmp: string;
let script: string;
let keyId: string;

function complete(line: string): string[] {
  const r = spawnSync(
    'bash',
    [
      '-c',
      `. /usr/share/bash-completion/bash_completion; . '${script}'; COMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _homecrypt; printf "%s\\n" "\${COMPREPLY[@]}" | sort`,
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${BIN}:${process.env.PATH}` },
    },
  );
  return r.stdout.split('\n').filter(Boolean);
}

describe.skipIf(!hasBashCompletion)('bash completion', () => {
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'hc-completion-'));
    script = join(tmp, 'homecrypt.bash');
    writeFileSync(script, execFileSync('node', [join(REPO, 'completion/build-completion.mjs'), '--program', join(REPO, 'dist/cli/main.js')]));
    const ks = join(tmp, 'ks');
    execFileSync(join(BIN, 'homecrypt'), ['key', 'create', ks, '--kdf-time', '0.05', '--passphrase-fd', '0', '-q'], { input: 'completion pass\n' });
    execFileSync(join(BIN, 'homecrypt'), ['key', 'slots', ks, 'add-passphrase', 'laptop', '--kdf-time', '0.05', '--passphrase-fd', '0'], {
      input: 'completion pass\nanother passphrase\n',
    });
    const r = JSON.parse(
      execFileSync(join(BIN, 'homecrypt'), ['key', 'unwrap', ks, '--passphrase-fd', '0', '--json'], { input: 'completion pass\n', encoding: 'utf8' }),
    );
    keyId = r.keyId;
    writeFileSync(join(tmp, 'disk.img'), '');
    execFileSync('truncate', ['-s', '32M', join(tmp, 'disk.img')]);
    execFileSync(join(BIN, 'homecrypt'), ['block', 'format', join(tmp, 'disk.img'), '--kdf-time', '0.05', '--recovery', '--passphrase-fd', '0', '-q'], {
      input: 'disk passphrase\n',
    });
  }, 120_000);
  afterAll(() => {
    if (keyId) spawnSync(join(BIN, 'homecrypt'), ['keyring', 'forget', keyId]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('completes the values an option accepts', () => {
    expect(complete('homecrypt block format --backend ""')).toEqual(['auto', 'dm-crypt', 'userspace']);
    expect(complete('homecrypt block open disk vol --backend u')).toEqual(['userspace']);
    expect(complete('homecrypt block format --sector-size ""')).toEqual(['4096', '512']);
    expect(complete('homecrypt setup --user root --auto-mount ""')).toEqual(['off', 'on']);
  });

  it('completes the slot names of a key store, and key slots actions', () => {
    expect(complete(`homecrypt key slots ${tmp}/ks ""`)).toEqual(['add-passphrase', 'add-recovery', 'list', 'remove']);
    expect(complete(`homecrypt key slots ${tmp}/ks remove ""`)).toEqual(['laptop', 'login', 'recovery']);
  });

  it('completes the keyslot numbers of a LUKS2 device', () => {
    expect(complete(`homecrypt block remove-slot ${tmp}/disk.img ""`)).toEqual(['0', '1']);
  });

  it('completes the key IDs in the keyring', () => {
    expect(complete('homecrypt keyring forget ""')).toContain(keyId);
  });

  it('offers nothing, silently, for a path that is not a key store', () => {
    expect(complete('homecrypt key slots /etc/passwd remove ""')).toEqual([]);
  });
});
