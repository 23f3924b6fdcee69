// Builds the manual pages from the real CLI, so they never drift from --help:
// homecrypt(1) and one homecrypt-GROUP page per command group, in section 8
// for the administrator's groups (ADMIN_GROUPS: they need root) and 1 for the
// rest. Every page has full synopses (each option with its argument) and the
// exit statuses. The synopsis,
// commands, arguments and options come from the commander program
// (src/cli/main.ts buildProgram(), what --help prints); the exit statuses
// and their meanings from src/cli/exit-codes.ts (ExitCode, EXIT_MEANING); prose that --help cannot carry (files, security
// notes, examples) from the hand-written roff fragments in man/sections/,
// named PAGE.SECTION.roff (e.g. homecrypt.files.roff, homecrypt-setup.examples.roff).
//
//   node man/build-man.mjs --program dist/cli/main.js --out DIR [--version V] [--date YYYY-MM-DD]
//
// Writes DIR/man1/*.1 and DIR/man8/*.8 (uncompressed) and prints their names.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const SECTIONS_DIR = join(here, 'sections');

/** Command groups for the administrator (they need root): their pages go to section 8. */
export const ADMIN_GROUPS = ['setup', 'pam', 'install', 'block', 'session', 'doctor'];
const sectionOf = (group) => (ADMIN_GROUPS.includes(group) ? 8 : 1);
const pageRef = (group) => `\\fBhomecrypt\\-${roffText(group)}\\fR(${sectionOf(group)})`;

/** The sections a page may carry from man/sections/, in the order they print. */
const HAND_SECTIONS = [
  ['description', 'DESCRIPTION'],
  ['examples', 'EXAMPLES'],
  ['files', 'FILES'],
  ['environment', 'ENVIRONMENT'],
  ['security', 'SECURITY'],
  ['notes', 'NOTES'],
  ['bugs', 'BUGS'],
];

function parseArgs(argv) {
  const opts = { program: 'dist/cli/main.js', out: 'build/man', version: undefined, date: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in opts) || argv[i + 1] === undefined) {
      process.stderr.write('usage: build-man.mjs --program MAIN.js --out DIR [--version V] [--date YYYY-MM-DD]\n');
      process.exit(2);
    }
    opts[key] = argv[i + 1];
  }
  return opts;
}

/** Escapes text for roff: backslashes, and a leading dot or quote. */
export function roffText(text) {
  return String(text)
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

/** commander descriptions are lower-case phrases; prose wants a sentence. */
const sentence = (t) => `${t.charAt(0).toUpperCase()}${t.slice(1)}${/[.!?)]$/.test(t) ? '' : '.'}`;

const bold = (t) => `\\fB${roffText(t)}\\fR`;

/** "-p, --passphrase-fd <n>": the flags in bold, the argument in italics. */
function optionTerm(flags) {
  return flags
    .split(/(,?\s+)/)
    .map((tok) => {
      if (/^[<[]/.test(tok)) return `\\fI${roffText(tok)}\\fR`;
      if (/^-/.test(tok)) return `\\fB${roffText(tok)}\\fR`;
      return roffText(tok);
    })
    .join('');
}

function argTerm(arg) {
  const name = arg.name() + (arg.variadic ? '...' : '');
  return arg.required ? `\\fI${roffText(name)}\\fR` : `[\\fI${roffText(name)}\\fR]`;
}

function fullName(cmd) {
  const names = [];
  for (let c = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function handSection(page, key) {
  const file = join(SECTIONS_DIR, `${page}.${key}.roff`);
  return existsSync(file) ? readFileSync(file, 'utf8').trimEnd() : undefined;
}

function optionsBlock(help, cmd) {
  const lines = [];
  for (const opt of help.visibleOptions(cmd)) {
    lines.push('.TP', optionTerm(opt.flags), roffText(help.optionDescription(opt) || ''));
  }
  return lines;
}

/** One option in a synopsis: "[--flag ARG]", without brackets when it is mandatory. */
function synopsisOption(opt) {
  const flag = opt.long ?? opt.short;
  const arg = opt.required || opt.optional ? ` \\fI${roffText(opt.flags.replace(/^.*?\s(?=[<[])/, '').replace(/[<>[\]]/g, ''))}\\fR` : '';
  const term = `\\fB${roffText(flag)}\\fR${arg}`;
  return opt.mandatory ? term : `[${term}]`;
}

/** The full synopsis: the command, each option with its argument, then the arguments. */
function synopsisOf(help, cmd) {
  // every argument, also those without a description (help.visibleArguments lists them only when one has one)
  const args = (cmd.registeredArguments ?? cmd._args ?? []).map(argTerm).join(' ');
  const opts = help
    .visibleOptions(cmd)
    .filter((o) => o.long !== '--help')
    .map(synopsisOption)
    .join(' ');
  const subs = help.visibleCommands(cmd).filter((c) => c.name() !== 'help').length > 0;
  return `${bold(fullName(cmd))}${opts ? ` ${opts}` : ''}${subs ? ' \\fIcommand\\fR' : ''}${args ? ` ${args}` : ''}`;
}

/** EXIT STATUS: every status and its meaning (src/cli/exit-codes.ts). */
function exitStatus(ExitCode, EXIT_MEANING) {
  const lines = ['.SH "EXIT STATUS"'];
  for (const [name, code] of Object.entries(ExitCode).sort(([, a], [, b]) => a - b)) {
    lines.push('.TP', `\\fB${code}\\fR (${name})`, roffText(sentence(EXIT_MEANING[name])));
  }
  return lines;
}

/** One subcommand and everything below it, as .SS blocks. */
function commandBlocks(help, cmd) {
  const lines = ['.SS', synopsisOf(help, cmd)];
  const desc = help.commandDescription(cmd);
  if (desc) lines.push(roffText(desc));
  const args = help.visibleArguments(cmd).filter((a) => a.description);
  for (const a of args) lines.push('.TP', argTerm(a), roffText(a.description));
  const opts = optionsBlock(help, cmd);
  if (opts.length) lines.push('.PP', 'Options:', '.RS', ...opts, '.RE');
  for (const sub of help.visibleCommands(cmd)) {
    if (sub.name() === 'help') continue;
    lines.push(...commandBlocks(help, sub));
  }
  return lines;
}

function header(page, version, date, title, section = 1) {
  return [
    `.\\" Generated by man/build-man.mjs from the homecrypt program; do not edit.`,
    `.TH ${page.toUpperCase()} ${section} "${date}" "homecrypt ${version}" "${title}"`,
    '.nh',
    '.ad l',
  ];
}

function handSections(page, skipDescription) {
  const lines = [];
  for (const [key, title] of HAND_SECTIONS) {
    if (skipDescription && key === 'description') continue;
    const text = handSection(page, key);
    if (text) lines.push(`.SH ${title}`, text);
  }
  return lines;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const programPath = resolve(opts.program);
  const { buildProgram } = await import(pathToFileURL(programPath).href);
  const { ExitCode, EXIT_MEANING } = await import(pathToFileURL(join(dirname(programPath), 'exit-codes.js')).href);
  const program = buildProgram();
  const version = opts.version ?? program.version();
  const date = opts.date ?? new Date().toISOString().slice(0, 10);
  const help = program.createHelp();
  const groups = help.visibleCommands(program).filter((c) => c.name() !== 'help');
  const outDir = join(opts.out, 'man1');
  mkdirSync(outDir, { recursive: true });
  mkdirSync(join(opts.out, 'man8'), { recursive: true });
  const written = [];

  // --- homecrypt(1) ---
  const top = [...header('homecrypt', version, date, 'homecrypt manual')];
  top.push('.SH NAME', `homecrypt \\- ${roffText(program.description().replace(/^./, (c) => c.toLowerCase()))}`);
  top.push('.SH SYNOPSIS', `${bold('homecrypt')} [\\fIoptions\\fR] \\fIcommand\\fR [\\fIargs\\fR]`);
  top.push('.SH DESCRIPTION', roffText(sentence(program.description())));
  const topDesc = handSection('homecrypt', 'description');
  if (topDesc) top.push('.PP', topDesc);
  if (groups.length) {
    top.push('.SH COMMANDS');
    for (const g of groups) {
      top.push('.TP', `${bold(g.name())} \\- see ${pageRef(g.name())}`, roffText(help.commandDescription(g) || ''));
    }
  }
  top.push('.SH OPTIONS', ...optionsBlock(help, program));
  top.push(...exitStatus(ExitCode, EXIT_MEANING));
  top.push(...handSections('homecrypt', true));
  top.push(
    '.SH "SEE ALSO"',
    [...groups.map((g) => pageRef(g.name())), '\\fBpam\\-auth\\-update\\fR(8)', '\\fBpam_exec\\fR(8)', '\\fBcryptsetup\\fR(8)', '\\fBecryptfs\\fR(7)'].join(
      ',\n',
    ),
  );
  writeFileSync(join(outDir, 'homecrypt.1'), `${top.join('\n')}\n`);
  written.push('homecrypt.1');

  // --- homecrypt-GROUP(1) ---
  for (const g of groups) {
    const page = `homecrypt-${g.name()}`;
    const section = sectionOf(g.name());
    const lines = [...header(page, version, date, section === 8 ? 'homecrypt administration' : 'homecrypt manual', section)];
    const desc = help.commandDescription(g) || `the ${g.name()} command`;
    lines.push('.SH NAME', `${roffText(page)} \\- ${roffText(desc.replace(/\.$/, ''))}`);
    const subs = help.visibleCommands(g).filter((c) => c.name() !== 'help');
    lines.push('.SH SYNOPSIS', synopsisOf(help, g));
    for (const s of subs) lines.push('.br', synopsisOf(help, s));
    lines.push('.SH DESCRIPTION', roffText(sentence(desc)));
    const handDesc = handSection(page, 'description');
    if (handDesc) lines.push('.PP', handDesc);
    const args = help.visibleArguments(g).filter((a) => a.description);
    if (args.length) {
      lines.push('.SH ARGUMENTS');
      for (const a of args) lines.push('.TP', argTerm(a), roffText(a.description));
    }
    const gOpts = optionsBlock(help, g);
    if (gOpts.length) lines.push('.SH OPTIONS', ...gOpts);
    if (subs.length) {
      lines.push('.SH COMMANDS');
      for (const s of subs) lines.push(...commandBlocks(help, s));
    }
    lines.push(...exitStatus(ExitCode, EXIT_MEANING));
    lines.push(...handSections(page, true));
    lines.push('.SH "SEE ALSO"', '\\fBhomecrypt\\fR(1)');
    writeFileSync(join(opts.out, `man${section}`, `${page}.${section}`), `${lines.join('\n')}\n`);
    written.push(`${page}.${section}`);
  }

  // A fragment for a page that no longer exists is a mistake worth hearing about.
  const pages = new Set(written.map((p) => p.replace(/\.[18]$/, '')));
  for (const f of existsSync(SECTIONS_DIR) ? readdirSync(SECTIONS_DIR) : []) {
    const page = f.split('.')[0];
    if (!pages.has(page)) process.stderr.write(`build-man: note: man/sections/${f} has no command ${page} (not used yet)\n`);
  }
  process.stdout.write(`${written.join('\n')}\n`);
}

await main();
