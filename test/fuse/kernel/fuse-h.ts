// The kernel's own description of the FUSE protocol, read from
// /usr/include/linux/fuse.h (Debian linux-libc-dev, in ./run's APT_PACKAGES):
// constants, the opcode enum and struct layouts computed with C's rules
// (natural alignment, x86_64/aarch64). Tests check src/fuse/kernel/protocol.ts
// against it, so its offsets are not checked against a copy of themselves.
import { readFileSync } from 'node:fs';

const HEADER = '/usr/include/linux/fuse.h';
const texts = new Map<string, string>();
/** A header's text without its comments. */
function headerText(path: string): string {
  if (!texts.has(path)) texts.set(path, readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\//g, ''));
  return texts.get(path)!;
}
const text = headerText(HEADER);

const SCALARS: Record<string, number> = {
  char: 1,
  int8_t: 1,
  uint8_t: 1,
  int16_t: 2,
  uint16_t: 2,
  int32_t: 4,
  uint32_t: 4,
  int64_t: 8,
  uint64_t: 8,
};

export interface Field {
  name: string;
  type: string;
  offset: number;
  size: number;
  count: number;
}
export interface Struct {
  name: string;
  size: number;
  align: number;
  fields: Map<string, Field>;
}

const structs = new Map<string, Struct>();

/** The layout of `struct name` as the C compiler lays it out. */
export function struct(name: string): Struct {
  const known = structs.get(name);
  if (known) return known;
  const body = new RegExp(`\\bstruct ${name} \\{([^}]*)\\};`).exec(text)?.[1];
  if (body === undefined) throw new Error(`${HEADER} has no struct ${name}`);
  const fields = new Map<string, Field>();
  let offset = 0,
    align = 1;
  for (const decl of body
    .split(';')
    .map((d) => d.trim())
    .filter(Boolean)) {
    const m = /^(?:struct\s+(\w+)|(\w+))\s+(\w+)(?:\[(\d*)\])?$/.exec(decl.replace(/\s+/g, ' '));
    if (!m) throw new Error(`struct ${name}: cannot read "${decl}"`);
    const [, nested, scalar, field, count] = m;
    const inner = nested ? struct(nested) : null;
    const one = inner ? inner.size : SCALARS[scalar];
    if (one === undefined) throw new Error(`struct ${name}: unknown type ${scalar}`);
    const a = inner ? inner.align : one;
    const n = count === undefined ? 1 : count === '' ? 0 : Number(count);
    offset = Math.ceil(offset / a) * a;
    fields.set(field, { name: field, type: nested ?? scalar, offset, size: one * n, count: n });
    offset += one * n;
    align = Math.max(align, a);
  }
  const s = { name, size: Math.ceil(offset / align) * align, align, fields };
  structs.set(name, s);
  return s;
}

/** A #define of fuse.h (or another uapi header) whose value is a number or (1 << n). */
export function define(name: string, header = HEADER): number {
  const v = new RegExp(`^#define ${name}\\s+(.+)$`, 'm').exec(headerText(header))?.[1].trim();
  if (v === undefined) throw new Error(`${header} defines no ${name}`);
  const shift = /^\(\s*1(?:ULL|UL|U)?\s*<<\s*(\d+)\s*\)$/.exec(v);
  if (shift) return 2 ** Number(shift[1]);
  if (/^\d+$/.test(v)) return Number(v);
  throw new Error(`${name} is ${v}, not a number`);
}

/** Every FUSE_* opcode of enum fuse_opcode, by name without the prefix. */
export function opcodes(): Map<string, number> {
  const body = /enum fuse_opcode \{([^}]*)\}/.exec(text)?.[1] ?? '';
  return new Map([...body.matchAll(/\bFUSE_(\w+)\s*=\s*(\d+)/g)].map((m) => [m[1], Number(m[2])]));
}

function at(s: Struct, field: string): Field {
  const f = s.fields.get(field);
  if (!f) throw new Error(`struct ${s.name} has no field ${field}`);
  return f;
}

/** Reads an integer field of `s` placed at `base` in `b` (u64 as bigint). */
export function get(b: Buffer, base: number, s: Struct, field: string): number | bigint {
  const f = at(s, field);
  const o = base + f.offset;
  switch (f.type) {
    case 'uint8_t':
    case 'char':
      return b.readUInt8(o);
    case 'uint16_t':
      return b.readUInt16LE(o);
    case 'uint32_t':
      return b.readUInt32LE(o);
    case 'int32_t':
      return b.readInt32LE(o);
    case 'uint64_t':
      return b.readBigUInt64LE(o);
    case 'int64_t':
      return b.readBigInt64LE(o);
    default:
      throw new Error(`${s.name}.${field}: ${f.type} is not an integer`);
  }
}

/** Writes an integer field of `s` placed at `base` in `b`. */
export function set(b: Buffer, base: number, s: Struct, field: string, v: number | bigint): void {
  const f = at(s, field);
  const o = base + f.offset;
  switch (f.type) {
    case 'uint8_t':
    case 'char':
      b.writeUInt8(Number(v), o);
      return;
    case 'uint16_t':
      b.writeUInt16LE(Number(v), o);
      return;
    case 'uint32_t':
      b.writeUInt32LE(Number(v), o);
      return;
    case 'int32_t':
      b.writeInt32LE(Number(v), o);
      return;
    case 'uint64_t':
      b.writeBigUInt64LE(BigInt(v), o);
      return;
    case 'int64_t':
      b.writeBigInt64LE(BigInt(v), o);
      return;
    default:
      throw new Error(`${s.name}.${field}: ${f.type} is not an integer`);
  }
}

/** The offset of a field, for nested structs (e.g. fuse_entry_out.attr). */
export function offsetOf(s: Struct, field: string): number {
  return at(s, field).offset;
}

/** One request as the kernel sends it: fuse_in_header (caller 1000:1001, thread `pid`), then the op's body. */
export function request(opcode: number, nodeid: bigint, body: Buffer, unique = 0x1_0000_0000_0007n, pid = 4242): Buffer {
  const inHeader = struct('fuse_in_header');
  const b = Buffer.alloc(inHeader.size + body.length);
  set(b, 0, inHeader, 'len', b.length);
  set(b, 0, inHeader, 'opcode', opcode);
  set(b, 0, inHeader, 'unique', unique);
  set(b, 0, inHeader, 'nodeid', nodeid);
  set(b, 0, inHeader, 'uid', 1000);
  set(b, 0, inHeader, 'gid', 1001);
  set(b, 0, inHeader, 'pid', pid);
  body.copy(b, inHeader.size);
  return b;
}
