// The answers file: every answer is validated, and each error names the answer.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { parseAnswers, validateAnswers } from '../../src/installer/answers.js';
import { UsageError } from '../../src/errors.js';

const good = { version: 1, user: 'alice', encryptHome: 'home', passphraseFile: '/root/alice.pass' };

function errorOf(raw: unknown): string {
  try {
    validateAnswers(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a validation error');
}

describe('answers file', () => {
  it('accepts a minimal file and fills in the defaults', () => {
    expect(validateAnswers(good)).toEqual({
      version: 1,
      user: 'alice',
      createUser: false,
      fullName: '',
      encryptHome: 'home',
      passphraseFile: '/root/alice.pass',
      kdfTime: null,
      recoveryKeyFile: null,
      block: null,
      package: 'auto',
    });
  });

  it('accepts a full file with block mode', () => {
    const a = validateAnswers({
      ...good,
      createUser: true,
      fullName: 'Alice Liddell',
      kdfTime: 0.05,
      recoveryKeyFile: '/root/rk.txt',
      package: '/srv/homecrypt_0.1.0_all.deb',
      block: { device: '/dev/vdb1', name: 'crypthome', mountPoint: '/home', format: true },
    });
    expect(a.block).toEqual({ device: '/dev/vdb1', name: 'crypthome', mountPoint: '/home', filesystem: 'ext4', format: true });
  });

  it('needs no user when nothing is encrypted', () => {
    expect(validateAnswers({ version: 1, encryptHome: 'no' }).user).toBeNull();
  });

  // Each row: the bad answers, and the name the error must carry.
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['missing version', { user: 'alice' }, '"version" is required'],
    ['future version', { ...good, version: 2 }, '"version" must be 1'],
    ['version as string', { ...good, version: '1' }, '"version" must be 1'],
    ['missing user', { version: 1 }, '"user" is required'],
    ['user not a string', { ...good, user: 42 }, '"user" must be a string'],
    ['user with a capital', { ...good, user: 'Alice' }, '"user" must be a login name'],
    ['user with a slash', { ...good, user: 'a/../b' }, '"user" must be a login name'],
    ['root as user', { ...good, user: 'root' }, '"user" must not be root'],
    ['empty user', { ...good, user: '' }, '"user" must not be empty'],
    ['encryptHome unknown', { ...good, encryptHome: 'yes' }, '"encryptHome" must be one of'],
    ['createUser not boolean', { ...good, createUser: 'yes' }, '"createUser" must be true or false'],
    ['fullName with a colon', { ...good, fullName: 'a:b' }, '"fullName" must not contain'],
    ['relative passphraseFile', { ...good, passphraseFile: 'pw.txt' }, '"passphraseFile" must be an absolute path'],
    ['passphraseFile with ..', { ...good, passphraseFile: '/root/../etc/shadow' }, '"passphraseFile" must not contain ".."'],
    ['inline passphrase', { ...good, passphrase: 'hunter22' }, '"passphrase" may not be written in the answers file'],
    ['kdfTime negative', { ...good, kdfTime: -1 }, '"kdfTime" must be a number of seconds'],
    ['kdfTime as string', { ...good, kdfTime: '1' }, '"kdfTime" must be a number of seconds'],
    ['kdfTime huge', { ...good, kdfTime: 1e9 }, '"kdfTime" must be a number of seconds'],
    ['recoveryKeyFile relative', { ...good, recoveryKeyFile: 'rk' }, '"recoveryKeyFile" must be an absolute path'],
    ['package unknown', { ...good, package: 'apt' }, '"package" must be "auto", "copy"'],
    ['unknown answer (typo)', { ...good, encrpytHome: 'home' }, '"encrpytHome" is not a known answer'],
    ['block not an object', { ...good, block: 'yes' }, '"block" must be an object'],
    ['block without device', { ...good, block: { name: 'x' } }, '"block.device" is required'],
    ['block bad device', { ...good, block: { device: 'sdb1', name: 'x' } }, '"block.device" must be the absolute path'],
    ['block without name', { ...good, block: { device: '/dev/vdb' } }, '"block.name" is required'],
    ['block bad name', { ...good, block: { device: '/dev/vdb', name: 'a b' } }, '"block.name" must be a device-mapper name'],
    ['block relative mountPoint', { ...good, block: { device: '/dev/vdb', name: 'x', mountPoint: 'home' } }, '"block.mountPoint" must be an absolute path'],
    ['block unknown filesystem', { ...good, block: { device: '/dev/vdb', name: 'x', filesystem: 'xfs' } }, '"block.filesystem" must be one of'],
    ['block format not boolean', { ...good, block: { device: '/dev/vdb', name: 'x', format: 1 } }, '"block.format" must be true or false'],
    ['block unknown key', { ...good, block: { device: '/dev/vdb', name: 'x', size: 3 } }, '"block.size" is not a known answer'],
  ];
  it.each(cases)('%s: the error names the answer', (_what, raw, expected) => {
    expect(errorOf(raw)).toContain(expected);
  });

  it('a file that is not an object, or not JSON, gives a clear error naming the file', () => {
    expect(() => parseAnswers('[1,2]', '/x/answers.json')).toThrow(/\/x\/answers\.json: answers: the file must hold a JSON object/);
    expect(() => parseAnswers('{"version": 1,', '/x/answers.json')).toThrow(/\/x\/answers\.json: not valid JSON/);
    expect(() => parseAnswers('null', '/x/a.json')).toThrow(UsageError);
    expect(() => parseAnswers(' '.repeat(2 << 20), '/x/a.json')).toThrow(/larger than 1 MiB/);
  });

  it('survives hostile JSON: deep nesting, huge strings, prototype keys', () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    expect(() => parseAnswers(deep, 'a')).toThrow(UsageError);
    expect(errorOf({ ...good, user: 'a'.repeat(100_000) })).toContain('"user"');
    expect(errorOf(JSON.parse('{"version":1,"user":"alice","__proto__":{"x":1}}'))).toContain('"__proto__" is not a known answer');
  });
});

describe('installer/ examples and JSON Schema', () => {
  const dir = new URL('../../installer/', import.meta.url);
  const schema = JSON.parse(readFileSync(new URL('answers.schema.json', dir), 'utf8'));

  it.each(readdirSync(new URL('examples/', dir)))('example %s is valid answers', (name) => {
    expect(() => parseAnswers(readFileSync(new URL(`examples/${name}`, dir), 'utf8'), name)).not.toThrow();
  });

  it('the schema names exactly the answers the validator knows', () => {
    const full = validateAnswers({ version: 1, user: 'a', block: { device: '/x', name: 'x' } });
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(full).sort());
    expect(Object.keys(schema.properties.block.properties).sort()).toEqual(Object.keys(full.block ?? {}).sort());
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.block.additionalProperties).toBe(false);
  });
});
