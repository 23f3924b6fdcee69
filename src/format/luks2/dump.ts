// What a LUKS2 header holds, for people and programs: `dumpText` prints the
// same text as `cryptsetup luksDump` (cryptsetup 2.6, lib/luks2/
// luks2_json_metadata.c, LUKS2_hdr_dump), so the two can be compared line for
// line; `dumpJson` gives the same facts as an object. Pure functions over a
// parsed header copy; nothing secret is in a header (salts and digests are not).
import type { HeaderCopy } from './header.js';
import type { Digest, Keyslot, Segment } from './metadata.js';

const PRIORITY = ['ignored', 'normal', 'preferred'];
const byId = <T extends { id: string }>(xs: T[]): T[] => [...xs].sort((a, b) => Number(a.id) - Number(b.id));

/** cryptsetup's hexprint: "xx " per byte, 16 to a line, continuation lines indented. */
function hex(b: Buffer): string {
  let s = '';
  for (let i = 0; i < b.length; i++) {
    if (i && !(i % 16)) s += '\n\t            ';
    s += `${b[i]!.toString(16).padStart(2, '0')} `;
  }
  return `${s}\n`;
}

function rawOf(h: HeaderCopy, section: string, id: string): Record<string, unknown> {
  const sec = h.metadata.raw[section] as Record<string, Record<string, unknown>> | undefined;
  return sec?.[id] ?? {};
}

function digestOfKeyslot(h: HeaderCopy, k: Keyslot): Digest | undefined {
  return h.metadata.digests.find((d) => d.keyslots.includes(k.id));
}

function segmentText(h: HeaderCopy, s: Segment): string {
  let t = `  ${s.id}: ${String(rawOf(h, 'segments', s.id).type ?? 'crypt')}\n`;
  t += `\toffset: ${s.offset} [bytes]\n`;
  t += `\tlength: ${s.size === 'dynamic' ? '(whole device)' : `${s.size} [bytes]`}\n`;
  t += `\tcipher: ${s.encryption}\n`;
  t += `\tsector: ${s.sectorSize} [bytes]\n`;
  if (s.flags.length) t += `\tflags : ${s.flags.join(', ')}\n`;
  return `${t}\n`;
}

function keyslotText(h: HeaderCopy, k: Keyslot): string {
  let t = `  ${k.id}: ${k.type}\n`;
  t += `\tKey:        ${k.keySize * 8} bits\n`;
  t += `\tPriority:   ${PRIORITY[k.priority] ?? 'normal'}\n`;
  t += `\tCipher:     ${k.area.encryption}\n`;
  t += `\tCipher key: ${k.area.keySize * 8} bits\n`;
  t += `\tPBKDF:      ${k.kdf.type}\n`;
  if (k.kdf.type === 'pbkdf2') {
    t += `\tHash:       ${k.kdf.hash}\n`;
    t += `\tIterations: ${k.kdf.iterations}\n`;
  } else {
    t += `\tTime cost:  ${k.kdf.time}\n`;
    t += `\tMemory:     ${k.kdf.memory}\n`;
    t += `\tThreads:    ${k.kdf.cpus}\n`;
  }
  t += `\tSalt:       ${hex(k.kdf.salt)}`;
  t += `\tAF stripes: ${k.afStripes}\n`;
  t += `\tAF hash:    ${k.afHash}\n`;
  t += `\tArea offset:${k.area.offset} [bytes]\n`;
  t += `\tArea length:${k.area.size} [bytes]\n`;
  const d = digestOfKeyslot(h, k);
  if (d) t += `\tDigest ID:  ${d.id}\n`;
  return t;
}

function digestText(h: HeaderCopy, d: Digest): string {
  let t = `  ${d.id}: ${String(rawOf(h, 'digests', d.id).type ?? 'pbkdf2')}\n`;
  t += `\tHash:       ${d.hash}\n`;
  t += `\tIterations: ${d.iterations}\n`;
  t += `\tSalt:       ${hex(d.salt)}`;
  t += `\tDigest:     ${hex(d.digest)}`;
  return t;
}

function tokenText(h: HeaderCopy, id: string): string {
  const raw = rawOf(h, 'tokens', id);
  let t = `  ${id}: ${String(raw.type ?? '?')}\n`;
  for (const k of Array.isArray(raw.keyslots) ? raw.keyslots : []) t += `\tKeyslot:    ${String(k)}\n`;
  return t;
}

export function dumpText(h: HeaderCopy): string {
  const b = h.binary;
  const m = h.metadata;
  const reqs = ((m.raw.config as Record<string, unknown> | undefined)?.requirements as { mandatory?: unknown[] } | undefined)?.mandatory ?? [];
  let t = 'LUKS header information\n';
  t += 'Version:       \t2\n';
  t += `Epoch:         \t${b.seqid}\n`;
  t += `Metadata area: \t${b.hdrSize} [bytes]\n`;
  t += `Keyslots area: \t${m.keyslotsSize} [bytes]\n`;
  t += `UUID:          \t${b.uuid || '(no UUID)'}\n`;
  t += `Label:         \t${b.label || '(no label)'}\n`;
  t += `Subsystem:     \t${b.subsystem || '(no subsystem)'}\n`;
  t += `Flags:       \t${m.flags.length ? m.flags.map((f) => `${f} `).join('') : '(no flags)'}\n`;
  if (reqs.length) t += `Requirements:\t${reqs.map((r) => `${String(r)} `).join('')}\n`;
  t += '\nData segments:\n';
  t += byId(m.segments)
    .map((s) => segmentText(h, s))
    .join('');
  t += 'Keyslots:\n';
  t += byId(m.keyslots)
    .map((k) => keyslotText(h, k))
    .join('');
  t += 'Tokens:\n';
  t += [...m.tokenIds]
    .sort((a, c) => Number(a) - Number(c))
    .map((id) => tokenText(h, id))
    .join('');
  t += 'Digests:\n';
  t += byId(m.digests)
    .map((d) => digestText(h, d))
    .join('');
  return t;
}

export function dumpJson(h: HeaderCopy): Record<string, unknown> {
  const b = h.binary;
  const m = h.metadata;
  return {
    version: 2,
    epoch: Number(b.seqid),
    metadataSize: b.hdrSize,
    keyslotsSize: m.keyslotsSize,
    uuid: b.uuid,
    label: b.label,
    subsystem: b.subsystem,
    checksumAlgorithm: b.checksumAlg,
    flags: m.flags,
    segments: byId(m.segments).map((s) => ({
      id: Number(s.id),
      type: String(rawOf(h, 'segments', s.id).type ?? 'crypt'),
      offset: s.offset,
      size: s.size,
      ivTweak: s.ivTweak,
      cipher: s.encryption,
      sectorSize: s.sectorSize,
      flags: s.flags,
    })),
    keyslots: byId(m.keyslots).map((k) => ({
      id: Number(k.id),
      type: k.type,
      keyBits: k.keySize * 8,
      priority: PRIORITY[k.priority] ?? 'normal',
      cipher: k.area.encryption,
      cipherKeyBits: k.area.keySize * 8,
      kdf:
        k.kdf.type === 'pbkdf2'
          ? { type: k.kdf.type, hash: k.kdf.hash, iterations: k.kdf.iterations, salt: k.kdf.salt.toString('base64') }
          : { type: k.kdf.type, time: k.kdf.time, memoryKiB: k.kdf.memory, threads: k.kdf.cpus, salt: k.kdf.salt.toString('base64') },
      afStripes: k.afStripes,
      afHash: k.afHash,
      areaOffset: k.area.offset,
      areaSize: k.area.size,
      digest: digestOfKeyslot(h, k) ? Number(digestOfKeyslot(h, k)!.id) : null,
    })),
    tokens: m.tokenIds.map((id) => ({ id: Number(id), type: String(rawOf(h, 'tokens', id).type ?? '') })),
    digests: byId(m.digests).map((d) => ({
      id: Number(d.id),
      type: String(rawOf(h, 'digests', d.id).type ?? 'pbkdf2'),
      hash: d.hash,
      iterations: d.iterations,
      salt: d.salt.toString('base64'),
      digest: d.digest.toString('base64'),
      keyslots: d.keyslots.map(Number),
      segments: d.segments.map(Number),
    })),
  };
}
