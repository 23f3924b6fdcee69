// One machine interface (issue 16): the commands that report take --json and
// --quiet (and --progress-json where the work is long), and every long piece of
// work prints progress in one style, from src/cli/progress.ts.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { setOutputFlags } from '../../src/cli/output.js';
import { progressReporter } from '../../src/cli/progress.js';

function find(path: string): Command {
  let cmd: Command = buildProgram();
  for (const name of path.split(' ')) {
    const next = cmd.commands.find((c) => c.name() === name);
    if (!next) throw new Error(`no command ${path}`);
    cmd = next;
  }
  return cmd;
}
const longs = (c: Command) => c.options.map((o) => o.long);

describe('the commands that report', () => {
  const reporting = [
    'status',
    'mount',
    'setup',
    'block format',
    'block open',
    'block status',
    'block close',
    'block dump',
    'pam status',
    'ecryptfs mount',
    'ecryptfs migrate',
    'ecryptfs adopt',
    'key slots',
    'key create',
    'key unwrap',
    'keyring list',
    'init',
    'rewrap',
    'fsck',
    'doctor',
  ].filter((p) => {
    try {
      find(p);
      return true;
    } catch {
      return false;
    }
  });
  it.each(reporting)('%s takes --json and --quiet', (p) => {
    expect(longs(find(p))).toEqual(expect.arrayContaining(['--json', '--quiet']));
  });
  it.each(['setup', 'block format', 'ecryptfs migrate'])('%s (long work) takes --progress-json', (p) => {
    expect(longs(find(p))).toContain('--progress-json');
  });
  it('lists at least the commands issue 16 names', () => {
    expect(reporting).toEqual(
      expect.arrayContaining([
        'status',
        'mount',
        'setup',
        'block format',
        'block open',
        'block status',
        'pam status',
        'ecryptfs mount',
        'ecryptfs migrate',
        'ecryptfs adopt',
        'key slots',
      ]),
    );
  });
});

describe('progress', () => {
  let written: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    setOutputFlags({});
    written = [];
  });
  function capture(): void {
    vi.spyOn(process.stderr, 'write').mockImplementation(((s: string) => {
      written.push(s);
      return true;
    }) as typeof process.stderr.write);
    Object.defineProperty(process.stderr, 'isTTY', { value: false, configurable: true });
  }
  const MiB = 1024 * 1024;

  it('without a terminal: a line per 10 % with label, count, bytes, rate and ETA', () => {
    capture();
    let t = 0;
    const report = progressReporter('migrating', 'files', () => t);
    for (let i = 0; i <= 100; i++) {
      t = i * 100;
      report({ done: i * 3, total: 300, bytes: (i * MiB) / 10, totalBytes: 10 * MiB });
    }
    expect(written).toHaveLength(11);
    expect(written[5]).toBe('migrating: 50% (150/300 files, 5.0/10.0 MiB, 1.0 MiB/s, ETA 0:05)\n');
    expect(written[10]).toBe('migrating: 100% (300/300 files, 10.0/10.0 MiB, 1.0 MiB/s)\n');
  });

  it('on a terminal: one line redrawn with a bar, ending in a newline', () => {
    capture();
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    let t = 0;
    const report = progressReporter('Wiping', 'files', () => t);
    report({ bytes: 0, totalBytes: 4 * MiB });
    t = 1000;
    report({ bytes: MiB, totalBytes: 4 * MiB });
    t = 4000;
    report({ bytes: 4 * MiB, totalBytes: 4 * MiB });
    expect(written[1]).toBe(`\rWiping [${'#'.repeat(8)}${'.'.repeat(22)}]  25% 1.0/4.0 MiB, 1.0 MiB/s, ETA 0:03\x1b[K`);
    expect(written.at(-1)!.endsWith('\n')).toBe(true);
  });

  it('--progress-json: JSON lines; --quiet: nothing', () => {
    capture();
    setOutputFlags({ progressJson: true });
    let t = 0;
    const report = progressReporter('copying', 'entries', () => t);
    report({ done: 1, total: 2, bytes: 10, totalBytes: 20 });
    t = 1000;
    report({ done: 2, total: 2, bytes: 20, totalBytes: 20 });
    expect(written.map((l) => JSON.parse(l).progress)).toEqual([
      { label: 'copying', percent: 50, done: 1, total: 2, unit: 'entries', bytes: 10, totalBytes: 20, bytesPerSecond: 0, etaSeconds: null },
      { label: 'copying', percent: 100, done: 2, total: 2, unit: 'entries', bytes: 20, totalBytes: 20, bytesPerSecond: 20, etaSeconds: 0 },
    ]);
    written = [];
    setOutputFlags({ quiet: true });
    progressReporter('x')({ bytes: 1, totalBytes: 1 });
    expect(written).toEqual([]);
  });
});
