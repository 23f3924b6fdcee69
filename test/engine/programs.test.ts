// Real programs on a mount: cp -a, tar, git, sqlite3 — and their results
// compared with the same work on a plain directory.
import { beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { mountedVolume, run } from './volume-helper.js';

const SRC = new URL('../../src', import.meta.url).pathname;

describe.skipIf(skipUnless('fuse', 'engine real-program tests'))('real programs on a mount', () => {
  const vol = mountedVolume();
  let m: string;
  beforeAll(() => ({ m } = vol));

  it('cp -a copies a tree byte for byte', async () => {
    expect((await run('cp', ['-a', SRC, join(m, 'src')])).code).toBe(0);
    const diff = await run('diff', ['-r', SRC, join(m, 'src')]);
    expect(diff.stdout + diff.stderr).toBe('');
    expect(diff.code).toBe(0);
  });

  it('tar writes and extracts an archive', async () => {
    const tarball = join(m, 'src.tar');
    expect((await run('tar', ['-cf', tarball, '-C', SRC, '.'])).code).toBe(0);
    fs.mkdirSync(join(m, 'untar'));
    expect((await run('tar', ['-xf', tarball, '-C', join(m, 'untar')])).code).toBe(0);
    expect((await run('diff', ['-r', SRC, join(m, 'untar')])).code).toBe(0);
    const list = await run('tar', ['-tf', tarball]);
    expect(list.stdout).toContain('./engine/filesystem.ts');
  });

  it('git init, commit, log and fsck', async () => {
    const repo = join(m, 'repo');
    fs.mkdirSync(repo);
    const git = (...a: string[]) => run('git', ['-c', 'user.name=T', '-c', 'user.email=t@example.org', ...a], repo);
    expect((await git('init', '-q')).code).toBe(0);
    fs.cpSync(join(SRC, 'format'), join(repo, 'format'), { recursive: true });
    expect((await git('add', '.')).code).toBe(0);
    expect((await git('commit', '-qm', 'first')).code).toBe(0);
    fs.appendFileSync(join(repo, 'format', 'names.ts'), '\n// changed\n');
    expect((await git('commit', '-qam', 'second')).code).toBe(0);
    expect((await git('log', '--oneline')).stdout.trim().split('\n')).toHaveLength(2);
    const fsck = await git('fsck', '--full', '--strict');
    expect(fsck.code).toBe(0);
    expect((await git('gc', '-q')).code).toBe(0);
    expect((await git('status', '--porcelain')).stdout).toBe('');
  });

  it('fio: random reads and writes of mixed sizes with data verification', async () => {
    const dir = join(m, 'fio');
    fs.mkdirSync(dir);
    const r = await run('fio', [
      '--name=exerciser',
      `--directory=${dir}`,
      '--rw=randrw',
      '--bsrange=1k-72k',
      '--bs_unaligned',
      '--size=12m',
      '--numjobs=2',
      '--ioengine=psync',
      '--verify=crc32c',
      '--do_verify=1',
      '--verify_fatal=1',
      '--verify_state_save=0',
      '--randseed=20261125',
      '--output-format=terse',
    ]);
    expect(r.stderr).not.toMatch(/verify|error/i);
    expect(r.code).toBe(0);
    fs.rmSync(dir, { recursive: true });
  });

  it('sqlite3 creates, fills and checks a database', async () => {
    const db = join(m, 'test.db');
    const sql = [
      'PRAGMA journal_mode=WAL;',
      'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);',
      'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 20000) INSERT INTO t(v) SELECT hex(randomblob(40)) FROM c;',
      'DELETE FROM t WHERE id % 3 = 0;',
      'VACUUM;',
    ].join('\n');
    const r = await run('sqlite3', [db, sql]);
    expect(r.stderr).toBe('');
    const check = await run('sqlite3', [db, 'PRAGMA integrity_check; SELECT count(*) FROM t;']);
    expect(check.stdout.trim().split('\n')).toEqual(['ok', '13334']);
  });
});
