// setup --private stopped at once (SIGKILL, as a second Ctrl-C or a crash
// stops it) while it makes the key store and ~/.Private, before its record:
// doctor names what it left with the command to run, and the same command
// run again removes it (saying so) and sets the user up, keeping every file
// the user has there; a leftover that holds more than setup makes is refused
// and kept. The judge of each kill point: test/session/private-leftover.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { skipUnless } from '../helpers/requirements.js';
import { asUser, createTestUser, removeTestUser, type TestUser } from '../helpers/users.js';
import { BIN, homecrypt } from './login-helpers.js';

const SETUP = (u: TestUser) => ['setup', '--user', u.name, '--private', '--passphrase-fd', '0', '--kdf-time', '0.05'];

describe.skipIf(skipUnless('root', 'keyring', 'setup --private stopped at once'))('setup --private stopped at once', () => {
  const users: TestUser[] = [];
  afterAll(() => {
    for (const u of users) removeTestUser(u);
  });

  /**
   * A fresh user whose setup --private was killed as soon as `path` (in the
   * home) appeared, before the record: tried again with a new user when the
   * record won the race (a fast machine writes it within milliseconds).
   */
  async function killedAt(path: string): Promise<TestUser> {
    for (let attempt = 1; ; attempt++) {
      const u = createTestUser('hck');
      users.push(u);
      writeFileSync(`${u.home}/mine.txt`, 'the user file');
      chownSync(`${u.home}/mine.txt`, u.uid, u.gid);
      const first = spawn(process.execPath, [BIN, ...SETUP(u)], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
      first.stdin!.end(`${u.password}\n`);
      const exited = new Promise((r) => first.on('exit', r));
      const deadline = Date.now() + 60_000;
      while (!existsSync(`${u.home}/${path}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
      process.kill(-first.pid!, 'SIGSTOP');
      const recorded = existsSync(`/etc/homecrypt/users/${u.name}.json`);
      process.kill(-first.pid!, 'SIGKILL');
      await exited;
      expect(existsSync(`${u.home}/${path}`), `${path} never appeared`).toBe(true);
      if (!recorded) return u;
      if (attempt === 3) throw new Error(`the record was written before the stop, 3 times (${path})`);
    }
  }

  function expectDoctorNamesIt(u: TestUser): void {
    const doctor = homecrypt(['doctor', '--user', u.name]);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(1);
    expect(doctor.stdout).toMatch(new RegExp(`PROBLEM: ${u.name}: ${u.home}/\\S+ .*left by a setup --private stopped before it wrote ${u.name}'s record`));
    expect(doctor.stdout).toContain(`fix: run homecrypt setup --user ${u.name} --private again (it removes them first)`);
  }

  function expectRerunSetsUp(u: TestUser): void {
    const again = homecrypt(SETUP(u), `${u.password}\n`);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`removing ${u.home}/\\S+.*, left by a setup of ${u.name} that was stopped before it wrote the record`));
    expect(again.stdout).toMatch(/Recovery key/);
    const rec = JSON.parse(readFileSync(`/etc/homecrypt/users/${u.name}.json`, 'utf8'));
    expect(rec).toMatchObject({ mode: 'private', state: 'ready' });
    // the new volume is made for the new key store's key
    expect(JSON.parse(readFileSync(`${u.home}/.Private/homecrypt.conf`, 'utf8')).currentKeyId).toBe(rec.keyId);
    expect(readdirSync('/etc/homecrypt/users').filter((n) => n.startsWith(`${u.name}.setup-marker`))).toEqual([]);
    expect(readFileSync(`${u.home}/mine.txt`, 'utf8')).toBe('the user file');
    expect(homecrypt(['doctor', '--user', u.name]).stdout).not.toMatch(/interrupted-setup|stopped before/);
  }

  it('killed once ~/.homecrypt exists: doctor names the leftover; the rerun removes it, keeps a file the user put there, and sets up', async () => {
    const u = await killedAt('.homecrypt');
    expect(existsSync(`/etc/homecrypt/users/${u.name}.setup-marker`)).toBe(true);
    expect(homecrypt(['status', '--user', u.name]).stdout).toMatch(/not set up/);
    expectDoctorNamesIt(u);
    expect(asUser(u, 'echo mine > ~/.homecrypt/notes.txt').code).toBe(0);
    expectRerunSetsUp(u);
    expect(readFileSync(`${u.home}/.homecrypt/notes.txt`, 'utf8')).toBe('mine\n');
  });

  it('killed once ~/.Private exists: a file the user adds there makes it not the setup’s: refused and kept; moved out, the rerun sets up', async () => {
    const u = await killedAt('.Private');
    expectDoctorNamesIt(u);
    expect(asUser(u, 'echo precious > ~/.Private/precious.txt').code).toBe(0);
    const refused = homecrypt(SETUP(u), `${u.password}\n`);
    expect(refused.code, refused.stderr).toBe(8);
    expect(refused.stderr).toMatch(
      new RegExp(
        `left by an interrupted setup of ${u.name}, but ${u.home}/.Private holds more than an interrupted setup leaves: precious.txt\nhint: look inside`,
      ),
    );
    expect(readFileSync(`${u.home}/.Private/precious.txt`, 'utf8')).toBe('precious\n');
    const doctor = homecrypt(['doctor', '--user', u.name]);
    expect(doctor.stdout).toMatch(
      new RegExp(`warning: ${u.name}: a setup --private was stopped before it wrote the record, but not all of .* is provably its own`),
    );
    renameSync(`${u.home}/.Private/precious.txt`, `${u.home}/precious.txt`);
    expectRerunSetsUp(u);
    expect(readFileSync(`${u.home}/precious.txt`, 'utf8')).toBe('precious\n');
  });

  it('killed once ~/Private exists (its last step before the record): files the user writes there are kept; the rerun waits for them to move, then sets up', async () => {
    const u = await killedAt('Private');
    expectDoctorNamesIt(u);
    expect(asUser(u, 'echo todo > ~/Private/todo.txt').code).toBe(0);
    const doctor = homecrypt(['doctor', '--user', u.name]);
    expect(doctor.stdout).toContain(`fix: move the files in ${u.home}/Private away, then run homecrypt setup --user ${u.name} --private again`);
    const refused = homecrypt(SETUP(u), `${u.password}\n`);
    expect(refused.code, refused.stderr).toBe(8);
    expect(refused.stderr).toContain(`${u.home}/Private exists and is not empty; move its files away first`);
    expect(readFileSync(`${u.home}/Private/todo.txt`, 'utf8')).toBe('todo\n');
    renameSync(`${u.home}/Private/todo.txt`, `${u.home}/todo.txt`);
    expectRerunSetsUp(u);
    expect(readFileSync(`${u.home}/todo.txt`, 'utf8')).toBe('todo\n');
  });
});
