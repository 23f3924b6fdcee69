// Writes debian/copyright (machine-readable format 1.0) for the package: homecrypt
// itself, and one stanza per npm package bundled under /usr/lib/homecrypt, taken
// from that package's own package.json and license file, so the list is always
// the one actually shipped.
//
//   node packaging/copyright.mjs --node-modules DIR > copyright
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const nmIndex = args.indexOf('--node-modules');
if (nmIndex < 0 || !args[nmIndex + 1]) {
  process.stderr.write('usage: copyright.mjs --node-modules DIR\n');
  process.exit(2);
}
const nodeModules = args[nmIndex + 1];

/** Every package directory under node_modules (scoped ones included), sorted. */
function packages(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if (name.startsWith('@')) {
      for (const sub of readdirSync(path).sort()) found.push({ name: `${name}/${sub}`, path: join(path, sub) });
    } else if (existsSync(join(path, 'package.json'))) {
      found.push({ name, path });
    }
    const nested = join(path, 'node_modules');
    if (existsSync(nested)) found.push(...packages(nested).map((p) => ({ ...p, name: `${name}/node_modules/${p.name}` })));
  }
  return found;
}

function authorOf(pkg) {
  const a = pkg.author;
  if (typeof a === 'string') return a.replace(/\s*\(http[^)]*\)/, '');
  if (a && a.name) return a.email ? `${a.name} <${a.email}>` : a.name;
  return undefined;
}

/** The "Copyright ..." lines of a license file, if it has any. */
function copyrightLines(dir) {
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  if (!file) return { lines: [], text: undefined };
  const text = readFileSync(join(dir, file), 'utf8');
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^copyright\s+(\(c\)|©|\d)/i.test(l))
    .map((l) => l.replace(/^copyright\s+/i, '').replace(/^\(c\)\s*/i, ''));
  return { lines: [...new Set(lines)], text };
}

const format = (text) =>
  text
    .trim()
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l}`))
    .join('\n');

const out = [];
out.push(`Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: homecrypt
Comment: homecrypt bundles its npm dependencies (production only) under
 /usr/lib/homecrypt/node_modules; each is listed below with its own license.

Files: *
Copyright: homecrypt developers
License: GPL-2+
`);

const licenseTexts = new Map();
for (const { name, path } of packages(nodeModules)) {
  const pkg = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'));
  const license = String(pkg.license ?? 'UNKNOWN').replace(/^\((.*)\)$/, '$1');
  const { lines, text } = copyrightLines(path);
  const holders = lines.length ? lines : [authorOf(pkg) ?? `the ${pkg.name} authors`];
  const spdx = license.replace(/ OR /g, ' or ').replace(/ AND /g, ' and ');
  out.push(`Files: usr/lib/homecrypt/node_modules/${name}/*
Copyright: ${holders.join('\n ')}
License: ${spdx}
Comment: ${pkg.name} ${pkg.version}
`);
  for (const short of spdx.split(/ (?:or|and) /)) {
    if (!licenseTexts.has(short) && text) licenseTexts.set(short, text);
  }
}

out.push(`License: GPL-2+
 This program is free software; you can redistribute it and/or modify it under
 the terms of the GNU General Public License as published by the Free Software
 Foundation; either version 2 of the License, or (at your option) any later
 version.
 .
 On Debian systems, the complete text of the GNU General Public License
 version 2 can be found in "/usr/share/common-licenses/GPL-2".
`);
for (const [short, text] of [...licenseTexts].sort(([a], [b]) => a.localeCompare(b))) {
  if (short === 'Apache-2.0') {
    out.push(`License: Apache-2.0
 On Debian systems, the complete text of the Apache License 2.0 can be found
 in "/usr/share/common-licenses/Apache-2.0".
`);
  } else {
    out.push(`License: ${short}\n${format(text)}\n`);
  }
}
process.stdout.write(out.join('\n'));
