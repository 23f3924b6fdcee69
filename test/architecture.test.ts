// The layer rule of docs/ARCHITECTURE.md, enforced: every import in src/ (static
// `import … from`, `export … from`, dynamic `import()`, type-only ones too) must
// point to a layer below its own or stay in its own folder, and no chain of
// imports may come back to where it started. Imports are read with the
// TypeScript compiler's own pre-processor (already a dev dependency), so an
// import inside a comment or a string is not mistaken for one.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const HERE = dirname(fileURLToPath(import.meta.url));
const SRC = join(HERE, '..', 'src');
const FIXTURES = join(HERE, 'fixtures', 'architecture');
const ARCHITECTURE_MD = join(HERE, '..', 'docs', 'ARCHITECTURE.md');
const TEST = HERE;

/**
 * THE layer order, bottom first: the one place it is stated (docs/ARCHITECTURE.md
 * draws it, and the last test below keeps the drawing in this order). A file may
 * import from its own folder and from any layer listed before its own. Folders
 * on the same line are siblings: neither may import the other.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts'], // typed errors; exit codes and errno are mapped from them higher up
  ['os/libc.ts', 'format/name-bytes.ts'], // the one loader of native libraries and errno error shape (crypto's libcrypto uses it) | names as bytes (the OS door and the formats share it)
  ['crypto'], // primitives only
  ['format', 'os'], // pure byte layouts | adapters to the OS (os/keyring.ts uses crypto)
  ['keys', 'fuse'], // key store operations | the FUSE bridge (knows nothing of keys)
  ['engine', 'block'], // the per-file encrypted filesystem | LUKS2 volumes
  ['ecryptfs'], // eCryptfs as a second format of the engine
  ['session'], // login flows (session/ecryptfs/: adopting and migrating eCryptfs homes)
  ['installer'], // the OS-installer step (drives the CLI inside the target)
  ['cli'], // argument parsing and printing
];

/**
 * Arrows against the order that are known and kept for now, each with its reason.
 * Keyed by (file, layer it may reach), not by folder: any other file making the
 * same kind of arrow, or this file reaching another wrong layer, still fails.
 * An exception no arrow needs any more fails too, so the list only shrinks.
 */
const EXCEPTIONS: readonly Exception[] = [];
interface Exception {
  from: string;
  to: string;
  why: string;
}

/**
 * Import cycles that are known and kept for now, each the exact set of files of
 * one cycle: a cycle that grows, or any other cycle, fails; so does an entry
 * that no cycle matches any more.
 */
const CYCLE_EXCEPTIONS: readonly CycleException[] = [];
interface CycleException {
  files: readonly string[];
  why: string;
}

interface Arrow {
  from: string;
  to: string;
  line: number;
  specifier: string;
}

/** Every .ts file under root, as a path relative to root with / separators. */
function sourceFiles(root: string, dir = root): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(root, p));
    else if (name.endsWith('.ts')) out.push(relative(root, p).split(sep).join('/'));
  }
  return out;
}

/** The relative imports of every file under root (package imports are not arrows). */
function importArrows(root: string): Arrow[] {
  const arrows: Arrow[] = [];
  for (const from of sourceFiles(root)) {
    const text = readFileSync(join(root, from), 'utf8');
    for (const imp of ts.preProcessFile(text, true, true).importedFiles) {
      if (!imp.fileName.startsWith('.')) continue;
      // NodeNext: sources import './x.js' for './x.ts'
      const to = normalize(join(dirname(from), imp.fileName.replace(/\.js$/, '.ts')))
        .split(sep)
        .join('/');
      const line = text.slice(0, imp.pos).split('\n').length;
      arrows.push({ from, to, line, specifier: imp.fileName });
    }
  }
  return arrows;
}

/** The layer a file belongs to: the file itself when LAYERS names it, else its first folder under src (or its own name at the top). */
function layerOf(file: string): string {
  return LAYERS.some((row) => row.includes(file)) ? file : file.split('/')[0];
}

function rankOf(layer: string): number {
  return LAYERS.findIndex((row) => row.includes(layer));
}

/** Arrows against LAYERS that no exception names, as readable lines. */
function wrongArrows(arrows: Arrow[], exceptions = EXCEPTIONS): string[] {
  const out: string[] = [];
  for (const a of arrows) {
    const [from, to] = [layerOf(a.from), layerOf(a.to)];
    const where = `${a.from}:${a.line} imports ${a.specifier}`;
    if (a.to.startsWith('../')) {
      out.push(`${where}: outside the tree`);
      continue;
    }
    if (from === to) continue;
    const [rf, rt] = [rankOf(from), rankOf(to)];
    if (rf < 0 || rt < 0) {
      out.push(`${where}: ${rf < 0 ? from : to} is not in LAYERS`);
      continue;
    }
    if (rt < rf) continue;
    if (exceptions.some((e) => e.from === a.from && e.to === to)) continue;
    out.push(`${where}: ${from} → ${to} points ${rt === rf ? 'sideways' : 'up'}`);
  }
  return out;
}

/** Exceptions that no arrow uses any more. */
function staleExceptions(arrows: Arrow[], exceptions = EXCEPTIONS): string[] {
  return exceptions.filter((e) => !arrows.some((a) => a.from === e.from && layerOf(a.to) === e.to)).map((e) => `${e.from} → ${e.to}`);
}

/** One path around a strongly connected set of files, as "a → b → … → a". */
function cyclePath(members: Set<string>, next: Map<string, string[]>): string {
  const start = [...members].sort()[0];
  // breadth-first from start's successors back to start, staying inside the set
  const via = new Map<string, string>();
  const queue = (next.get(start) ?? []).filter((w) => members.has(w));
  for (const w of queue) via.set(w, start);
  while (queue.length && !via.has(start)) {
    const v = queue.shift()!;
    for (const w of next.get(v) ?? [])
      if (members.has(w) && !via.has(w)) {
        via.set(w, v);
        queue.push(w);
      }
  }
  const back: string[] = [];
  for (let v = via.get(start)!; v !== start; v = via.get(v)!) back.push(v);
  return [start, ...back.reverse(), start].join(' → ');
}

/** Every import cycle (Tarjan's strongly connected components): its files and one path around it. */
function importCycles(arrows: Arrow[]): { files: string[]; path: string }[] {
  const next = new Map<string, string[]>();
  for (const a of arrows) next.set(a.from, [...(next.get(a.from) ?? []), a.to]);
  const index = new Map<string, number>(),
    low = new Map<string, number>();
  const stack: string[] = [],
    onStack = new Set<string>(),
    cycles: { files: string[]; path: string }[] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    for (let w = ''; w !== v;) {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    }
    if (scc.length > 1 || next.get(v)?.includes(v)) cycles.push({ files: scc.sort(), path: cyclePath(new Set(scc), next) });
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

const sameFiles = (a: readonly string[], b: readonly string[]) => [...a].sort().join('\n') === [...b].sort().join('\n');

/** Cycles that no cycle exception names exactly. */
function wrongCycles(arrows: Arrow[], exceptions = CYCLE_EXCEPTIONS): string[] {
  return importCycles(arrows)
    .filter((c) => !exceptions.some((e) => sameFiles(e.files, c.files)))
    .map((c) => c.path);
}

describe('the layers of src/', () => {
  const arrows = importArrows(SRC);

  it('reads the imports of src/ (static, export-from, dynamic, type-only)', () => {
    // a parser that silently found nothing would pass every test below
    expect(arrows.length).toBeGreaterThan(300);
    const kinds = (from: string) => arrows.filter((a) => a.from === from).map((a) => a.to);
    expect(kinds('fuse/index.ts')).toContain('fuse/bridge.ts'); // export … from
    expect(kinds('cli/main.ts').length).toBeGreaterThan(0);
  });

  it('places every folder and top-level file of src/ in LAYERS', () => {
    const unplaced = [...new Set(sourceFiles(SRC).map(layerOf))].filter((l) => rankOf(l) < 0);
    expect(unplaced).toEqual([]);
  });

  it('has no import against the layer order but the named exceptions', () => {
    expect(wrongArrows(arrows)).toEqual([]);
  });

  it('names only exceptions that are still needed, each with its reason', () => {
    expect(staleExceptions(arrows)).toEqual([]);
    for (const e of EXCEPTIONS) expect(e.why.length).toBeGreaterThan(20);
  });

  it('has no import cycle but the named ones', () => {
    expect(wrongCycles(arrows)).toEqual([]);
    const cycles = importCycles(arrows);
    const stale = CYCLE_EXCEPTIONS.filter((e) => !cycles.some((c) => sameFiles(e.files, c.files)));
    expect(stale.map((e) => e.files.join(', '))).toEqual([]);
    for (const e of CYCLE_EXCEPTIONS) expect(e.why.length).toBeGreaterThan(20);
  });

  it('keeps os/libc.ts, a layer of its own, below the rest of os/ and under crypto', () => {
    const planted: Arrow[] = [
      { from: 'crypto/gcm-blocks.ts', to: 'os/libc.ts', line: 1, specifier: '../os/libc.js' },
      { from: 'os/pam-authenticate.ts', to: 'os/libc.ts', line: 1, specifier: './libc.js' },
      { from: 'os/libc.ts', to: 'os/users.ts', line: 1, specifier: './users.js' },
      { from: 'os/libc.ts', to: 'crypto/random.ts', line: 2, specifier: '../crypto/random.js' },
      { from: 'crypto/random.ts', to: 'os/users.ts', line: 1, specifier: '../os/users.js' },
    ];
    expect(wrongArrows(planted)).toEqual([
      'os/libc.ts:1 imports ./users.js: os/libc.ts → os points up',
      'os/libc.ts:2 imports ../crypto/random.js: os/libc.ts → crypto points up',
      'crypto/random.ts:1 imports ../os/users.js: crypto → os points up',
    ]);
  });

  it('has no exception left (the lists stay for a reasoned one, and only shrink)', () => {
    expect(EXCEPTIONS).toEqual([]);
    expect(CYCLE_EXCEPTIONS).toEqual([]);
  });

  it('an exception opens one (file, layer) arrow only, and fails once unused', () => {
    const excepted: Exception[] = [{ from: 'ecryptfs/ecryptfs-volume.ts', to: 'session', why: 'planted for this test' }];
    const planted: Arrow[] = [
      { from: 'ecryptfs/ecryptfs-volume.ts', to: 'session/setup.ts', line: 1, specifier: '../session/setup.js' },
      { from: 'ecryptfs/ecryptfs-volume.ts', to: 'cli/main.ts', line: 2, specifier: '../cli/main.js' },
      { from: 'ecryptfs/ecryptfs-mount.ts', to: 'session/setup.ts', line: 1, specifier: '../session/setup.js' },
      { from: 'engine/volume.ts', to: 'block/luks2-volume.ts', line: 1, specifier: '../block/luks2-volume.js' },
    ];
    expect(wrongArrows(planted, excepted)).toEqual([
      'ecryptfs/ecryptfs-volume.ts:2 imports ../cli/main.js: ecryptfs → cli points up',
      'ecryptfs/ecryptfs-mount.ts:1 imports ../session/setup.js: ecryptfs → session points up',
      'engine/volume.ts:1 imports ../block/luks2-volume.js: engine → block points sideways',
    ]);
    expect(staleExceptions(planted, excepted)).toEqual([]);
    expect(staleExceptions(arrows, excepted)).toEqual(['ecryptfs/ecryptfs-volume.ts → session']);
  });

  it('a cycle exception covers its exact files only: a grown cycle fails', () => {
    const cycle: Arrow[] = [
      { from: 'session/status.ts', to: 'session/lower-dir.ts', line: 1, specifier: './lower-dir.js' },
      { from: 'session/lower-dir.ts', to: 'session/status.ts', line: 1, specifier: './status.js' },
    ];
    const excepted: CycleException[] = [{ files: ['session/lower-dir.ts', 'session/status.ts'], why: 'planted for this test' }];
    expect(wrongCycles([...arrows, ...cycle], excepted)).toEqual([]);
    const grown: Arrow[] = [
      { from: 'session/lower-dir.ts', to: 'session/forget.ts', line: 2, specifier: './forget.js' },
      { from: 'session/forget.ts', to: 'session/status.ts', line: 1, specifier: './status.js' },
    ];
    const found = wrongCycles([...arrows, ...cycle, ...grown], excepted);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain('session/forget.ts');
  });
});

describe('the layer check on planted trees (test/fixtures/architecture)', () => {
  it('finds nothing in a clean tree (imports in comments and strings are not imports)', () => {
    const arrows = importArrows(join(FIXTURES, 'clean'));
    expect(arrows.map((a) => `${a.from} → ${a.to}`)).toEqual([
      'engine/volume.ts → crypto/aead.ts',
      'engine/volume.ts → crypto/aead.ts',
      'engine/volume.ts → crypto/aead.ts',
    ]);
    expect(wrongArrows(arrows)).toEqual([]);
    expect(wrongCycles(arrows)).toEqual([]);
  });

  it('fails on an upward import, however it is written', () => {
    const arrows = importArrows(join(FIXTURES, 'upward'));
    expect(wrongArrows(arrows)).toEqual([
      'crypto/aead.ts:1 imports ../engine/volume.js: crypto → engine points up',
      'crypto/aead.ts:2 imports ../engine/volume.js: crypto → engine points up',
      'crypto/aead.ts:4 imports ../engine/volume.js: crypto → engine points up',
    ]);
  });

  it('fails on a cycle, even one closed by a dynamic import()', () => {
    const arrows = importArrows(join(FIXTURES, 'cycle'));
    expect(wrongArrows(arrows)).toEqual([]);
    expect(wrongCycles(arrows)).toEqual(['engine/a.ts → engine/b.ts → engine/a.ts']);
  });
});

/**
 * Where tests live (docs/ARCHITECTURE.md, "Where tests live"): a folder of test/
 * holding tests is either the mirror of a folder of src/ (that folder's tests)
 * or one of these feature folders (system scenarios across layers), whose names
 * are not folders of src/.
 */
const FEATURE_FOLDERS: Readonly<Record<string, string>> = {
  login: 'logins through PAM, ssh and setup, on real accounts',
  privsep: 'root acting for a user, raced and fed hostile input across commands',
  ux: 'hand use: CLI scenarios as text, man pages, completion',
  'cli-keys': 'the key, rewrap and keyring commands as a user runs them',
  format2: 'format version 2 as a whole: vectors, the attack tables, crashes and torn writes',
  boot: 'a login on a booted systemd',
  package: 'the Debian package',
};
/** Folders of shared test code and data, not tests. */
const SUPPORT_FOLDERS = ['helpers', 'vectors', 'fixtures'];

/**
 * Tests not yet where the rule puts them, each with its destination and reason;
 * an entry whose file or folder is gone fails, so the list only shrinks.
 */
const PENDING_MOVES: readonly { from: string; to: string; why: string }[] = [];

/** Every .test.ts under test/, relative to test/ (vectors and fixtures, which hold dangling symlinks, not read). */
function testFiles(dir = TEST): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && !(dir === TEST && (e.name === 'vectors' || e.name === 'fixtures'))) out.push(...testFiles(p));
    else if (e.isFile() && e.name.endsWith('.test.ts')) out.push(relative(TEST, p).split(sep).join('/'));
  }
  return out.sort();
}

/** Where the rule finds a test misplaced: its folder is neither a src/ mirror nor a feature folder, or it is named after a src/ file in another folder. */
function misplacedTests(files: readonly string[], srcFiles: readonly string[]): string[] {
  const out: string[] = [];
  const pending = (f: string) => PENDING_MOVES.some((m) => f === m.from || f.startsWith(`${m.from}/`));
  const srcDirs = new Set(srcFiles.map((f) => dirname(f)));
  for (const f of files) {
    const dir = dirname(f);
    if (dir === '.' || pending(f)) continue; // test/*.test.ts: the whole tree
    const top = dir.split('/')[0];
    if (top in FEATURE_FOLDERS) continue;
    if (!srcDirs.has(dir)) {
      out.push(`test/${f}: test/${dir} mirrors no folder of src/ and is no feature folder`);
      continue;
    }
    const name = f.slice(dir.length + 1).replace(/\.test\.ts$/, '.ts');
    const namesakes = srcFiles.filter((s) => s.endsWith(`/${name}`) || s === name);
    if (namesakes.length && !namesakes.includes(`${dir}/${name}`)) out.push(`test/${f}: named after src/${namesakes.join(', src/')}, not in its mirror`);
  }
  return out;
}

describe('where tests live', () => {
  const srcFiles = sourceFiles(SRC);

  it('unit tests mirror src/, scenarios are in feature folders', () => {
    expect(misplacedTests(testFiles(), srcFiles)).toEqual([]);
  });

  it('feature folders are not folders of src/, and each says what it holds', () => {
    for (const [name, why] of Object.entries(FEATURE_FOLDERS)) {
      expect(existsSync(join(SRC, name)), name).toBe(false);
      expect(why.length).toBeGreaterThan(10);
    }
    for (const name of SUPPORT_FOLDERS) expect(existsSync(join(TEST, name)), name).toBe(true);
  });

  it('names only pending moves that are still pending, each to a mirror of src/', () => {
    expect(PENDING_MOVES.filter((m) => !existsSync(join(TEST, m.from))).map((m) => m.from)).toEqual([]);
    for (const m of PENDING_MOVES) {
      expect(existsSync(join(SRC, m.to.endsWith('.test.ts') ? dirname(m.to) : m.to)), m.to).toBe(true);
      expect(m.why.length).toBeGreaterThan(20);
    }
  });

  it('would find a crypto test under test/engine and a folder that mirrors nothing', () => {
    expect(misplacedTests(['engine/aead.test.ts', 'crypto/aead.test.ts', 'engines/x.test.ts', 'login/aead.test.ts'], srcFiles)).toEqual([
      'test/engine/aead.test.ts: named after src/crypto/aead.ts, not in its mirror',
      'test/engines/x.test.ts: test/engines mirrors no folder of src/ and is no feature folder',
    ]);
  });
});

/**
 * File names unique in meaning: a basename may repeat only as a command of
 * cli/commands/ and the code it runs (cli/commands/fsck.ts → engine/fsck.ts).
 */
function repeatedNames(files: readonly string[]): string[] {
  const byName = new Map<string, string[]>();
  for (const f of files) byName.set(f.split('/').at(-1)!, [...(byName.get(f.split('/').at(-1)!) ?? []), f]);
  const commandAndCode = (fs: string[]) => fs.length === 2 && fs.filter((f) => f.startsWith('cli/commands/')).length === 1;
  return [...byName].filter(([, fs]) => fs.length > 1 && !commandAndCode(fs)).map(([name, fs]) => `${name}: ${fs.join(', ')}`);
}

describe('file names of src/', () => {
  it('repeat only as a command of cli/commands/ and the code it runs', () => {
    expect(repeatedNames(sourceFiles(SRC))).toEqual([]);
  });

  it('would find two files of one name with different meanings', () => {
    expect(
      repeatedNames([
        'engine/volume.ts',
        'block/volume.ts',
        'cli/commands/fsck.ts',
        'engine/fsck.ts',
        'cli/commands/keyring.ts',
        'os/keyring.ts',
        'session/keyring.ts',
      ]),
    ).toEqual(['volume.ts: engine/volume.ts, block/volume.ts', 'keyring.ts: cli/commands/keyring.ts, os/keyring.ts, session/keyring.ts']);
  });
});

describe('docs/ARCHITECTURE.md', () => {
  it('draws the layers in the order of LAYERS', () => {
    const md = readFileSync(ARCHITECTURE_MD, 'utf8');
    // The first fenced block is the drawing: a line starting with src/<name>
    // names a layer; lines of only │ separate the groups of siblings.
    const drawing = /```\n([\s\S]*?)```/.exec(md)?.[1] ?? '';
    const groups: string[][] = [[]];
    for (const line of drawing.split('\n')) {
      if (/^[\s│]*$/.test(line)) {
        if (groups.at(-1)!.length) groups.push([]);
        continue;
      }
      const name = /^src\/([\w./-]+)/.exec(line)?.[1];
      if (name) groups.at(-1)!.push(name);
    }
    expect(groups.filter((g) => g.length)).toEqual(LAYERS.map((row) => [...row]));
  });

  it('lists every exception the test allows', () => {
    const md = readFileSync(ARCHITECTURE_MD, 'utf8');
    for (const e of EXCEPTIONS) expect(md).toContain(`src/${e.from}`);
    for (const e of CYCLE_EXCEPTIONS) for (const f of e.files) expect(md).toContain(`src/${f}`);
  });
});
