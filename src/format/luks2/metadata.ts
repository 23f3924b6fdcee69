// The JSON metadata of a LUKS2 header: parsed defensively (the bytes may be
// hostile) into typed objects, and checked for the layout rules cryptsetup
// enforces — keyslot areas inside the keyslots area and not overlapping, data
// segments past the metadata and not overlapping, digests naming what exists.
// Mutations edit `raw` (so fields this build does not know survive a rewrite)
// and re-validate through parseMetadata.
import {
  AF_STRIPES,
  BINARY_HEADER_BYTES,
  KEYSLOT_ALIGN,
  MAX_DIGESTS,
  MAX_JSON_DEPTH,
  MAX_KEYSLOTS,
  MAX_SEGMENTS,
  MAX_TOKENS,
  SECTOR,
  VALID_SECTOR_SIZES,
} from './layout.js';

/** A rule of the metadata was broken; the message says which, without secrets. */
export class MetadataError extends Error {}

export type Kdf =
  | { type: 'argon2id' | 'argon2i'; time: number; memory: number; cpus: number; salt: Buffer }
  | { type: 'pbkdf2'; hash: string; iterations: number; salt: Buffer };

export interface Keyslot {
  id: string;
  type: string;
  keySize: number;
  afStripes: number;
  afHash: string;
  area: { offset: number; size: number; encryption: string; keySize: number };
  kdf: Kdf;
  /** 0 ignore, 1 normal, 2 high (cryptsetup's meaning) */
  priority: number;
}

export interface Segment {
  id: string;
  offset: number;
  /** bytes, or 'dynamic' (to the end of the device) */
  size: number | 'dynamic';
  ivTweak: number;
  encryption: string;
  sectorSize: number;
  flags: string[];
}

export interface Digest {
  id: string;
  keyslots: string[];
  segments: string[];
  hash: string;
  iterations: number;
  salt: Buffer;
  digest: Buffer;
}

export interface Metadata {
  keyslots: Keyslot[];
  segments: Segment[];
  digests: Digest[];
  tokenIds: string[];
  jsonSize: number;
  keyslotsSize: number;
  flags: string[];
  /** the validated JSON object, edited by the mutations and written back */
  raw: Record<string, unknown>;
}

export const SUPPORTED_HASHES = ['sha1', 'sha256', 'sha512'] as const;
export const SUPPORTED_ENCRYPTIONS = ['aes-xts-plain64'] as const;

const HASH_BYTES: Record<string, number> = { sha1: 20, sha256: 32, sha512: 64 };

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, where: string): Obj {
  if (!isObj(v)) throw new MetadataError(`${where} must be an object`);
  return v;
}

function str(o: Obj, k: string, where: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw new MetadataError(`${where}.${k} must be a string`);
  if (v.length > 256) throw new MetadataError(`${where}.${k} is too long`);
  return v;
}

function int(o: Obj, k: string, where: string, min: number, max: number): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new MetadataError(`${where}.${k} must be an integer`);
  if (v < min || v > max) throw new MetadataError(`${where}.${k} = ${v} is out of range ${min}..${max}`);
  return v;
}

/** LUKS2 writes 64-bit values as decimal strings. */
function u64(o: Obj, k: string, where: string): number {
  const v = o[k];
  if (typeof v !== 'string' || !/^[0-9]{1,20}$/.test(v)) throw new MetadataError(`${where}.${k} must be a decimal string`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new MetadataError(`${where}.${k} is too large`);
  return n;
}

function b64(o: Obj, k: string, where: string, minBytes: number, maxBytes: number): Buffer {
  const v = str(o, k, where);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) throw new MetadataError(`${where}.${k} is not base64`);
  const b = Buffer.from(v, 'base64');
  if (b.length < minBytes || b.length > maxBytes) throw new MetadataError(`${where}.${k} has ${b.length} bytes`);
  return b;
}

function oneOf<T extends string>(v: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(v)) throw new MetadataError(`unsupported ${what} '${v}'`);
  return v as T;
}

function strArray(o: Obj, k: string, where: string, max: number, required = true): string[] {
  const v = o[k];
  if (v === undefined && !required) return [];
  if (!Array.isArray(v) || v.length > max || !v.every((x) => typeof x === 'string' && x.length <= 64)) {
    throw new MetadataError(`${where}.${k} must be an array of at most ${max} strings`);
  }
  return v as string[];
}

function ids(section: Obj, where: string, max: number): string[] {
  const keys = Object.keys(section);
  if (keys.length > max) throw new MetadataError(`${where} has more than ${max} entries`);
  for (const k of keys) if (!/^[0-9]{1,2}$/.test(k) || Number(k) >= max) throw new MetadataError(`${where} id '${k.slice(0, 16)}' is invalid`);
  return keys.sort((a, b) => Number(a) - Number(b));
}

/** Checks bracket depth before JSON.parse sees the text (a hostile area can nest thousands deep). */
export function checkJsonDepth(text: string, maxDepth = MAX_JSON_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped char
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) throw new MetadataError(`JSON nested deeper than ${maxDepth} levels`);
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
}

/** Parses the JSON area of one header copy (the text ends at the first NUL). */
export function parseJsonArea(area: Buffer, hdrSize: number): Metadata {
  const nul = area.indexOf(0);
  if (nul < 0) throw new MetadataError('JSON area is not NUL-terminated');
  const text = area.subarray(0, nul).toString('utf8');
  checkJsonDepth(text);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new MetadataError(`JSON area does not parse: ${(e as Error).message.slice(0, 80)}`);
  }
  return parseMetadata(raw, hdrSize);
}

function parseKdf(o: Obj, where: string): Kdf {
  const type = str(o, 'type', where);
  if (type === 'argon2id' || type === 'argon2i') {
    return {
      type,
      time: int(o, 'time', where, 1, 1 << 24),
      memory: int(o, 'memory', where, 32, 4 * 1024 * 1024), // KiB; cryptsetup's cap is 4 GiB
      cpus: int(o, 'cpus', where, 1, 16),
      salt: b64(o, 'salt', where, 8, 64),
    };
  }
  if (type === 'pbkdf2') {
    return {
      type,
      hash: oneOf(str(o, 'hash', where), SUPPORTED_HASHES, 'hash'),
      iterations: int(o, 'iterations', where, 1000, 2 ** 32 - 1),
      salt: b64(o, 'salt', where, 8, 64),
    };
  }
  throw new MetadataError(`unsupported ${where}.type '${type.slice(0, 32)}'`);
}

function parseKeyslot(id: string, v: unknown): Keyslot {
  const where = `keyslots.${id}`;
  const o = obj(v, where);
  const type = str(o, 'type', where);
  if (type !== 'luks2') throw new MetadataError(`unsupported keyslot type '${type.slice(0, 32)}' in ${where}`);
  const keySize = int(o, 'key_size', where, 16, 128);
  const af = obj(o.af, `${where}.af`);
  if (str(af, 'type', `${where}.af`) !== 'luks1') throw new MetadataError(`${where}.af.type must be 'luks1'`);
  const afStripes = int(af, 'stripes', `${where}.af`, 1, AF_STRIPES);
  const afHash = oneOf(str(af, 'hash', `${where}.af`), SUPPORTED_HASHES, 'AF hash');
  const areaObj = obj(o.area, `${where}.area`);
  if (str(areaObj, 'type', `${where}.area`) !== 'raw') throw new MetadataError(`${where}.area.type must be 'raw'`);
  const area = {
    offset: u64(areaObj, 'offset', `${where}.area`),
    size: u64(areaObj, 'size', `${where}.area`),
    encryption: oneOf(str(areaObj, 'encryption', `${where}.area`), SUPPORTED_ENCRYPTIONS, 'keyslot encryption'),
    keySize: int(areaObj, 'key_size', `${where}.area`, 32, 64),
  };
  if (area.keySize !== 32 && area.keySize !== 64) throw new MetadataError(`${where}.area.key_size must be 32 or 64 for XTS`);
  if (area.offset % SECTOR !== 0) throw new MetadataError(`${where}.area.offset is not sector aligned`);
  const material = keySize * afStripes;
  if (area.size < material) throw new MetadataError(`${where}.area is smaller than its key material`);
  const kdf = parseKdf(obj(o.kdf, `${where}.kdf`), `${where}.kdf`);
  const priority = o.priority === undefined ? 1 : int(o, 'priority', where, 0, 2);
  return { id, type, keySize, afStripes, afHash, area, kdf, priority };
}

function parseSegment(id: string, v: unknown): Segment {
  const where = `segments.${id}`;
  const o = obj(v, where);
  const type = str(o, 'type', where);
  if (type !== 'crypt') throw new MetadataError(`unsupported segment type '${type.slice(0, 32)}' in ${where}`);
  const offset = u64(o, 'offset', where);
  const size = o.size === 'dynamic' ? 'dynamic' : u64(o, 'size', where);
  const ivTweak = u64(o, 'iv_tweak', where);
  const encryption = oneOf(str(o, 'encryption', where), SUPPORTED_ENCRYPTIONS, 'segment encryption');
  const sectorSize = int(o, 'sector_size', where, 512, 4096);
  if (!VALID_SECTOR_SIZES.includes(sectorSize)) throw new MetadataError(`${where}.sector_size ${sectorSize} is invalid`);
  if (offset % sectorSize !== 0) throw new MetadataError(`${where}.offset is not aligned to its sector size`);
  if (size !== 'dynamic' && size % sectorSize !== 0) throw new MetadataError(`${where}.size is not a multiple of its sector size`);
  if (o.integrity !== undefined) throw new MetadataError(`${where} uses dm-integrity, which this build does not support`);
  const flags = strArray(o, 'flags', where, 16, false);
  return { id, offset, size, ivTweak, encryption, sectorSize, flags };
}

function parseDigest(id: string, v: unknown): Digest {
  const where = `digests.${id}`;
  const o = obj(v, where);
  const type = str(o, 'type', where);
  if (type !== 'pbkdf2') throw new MetadataError(`unsupported digest type '${type.slice(0, 32)}' in ${where}`);
  const hash = oneOf(str(o, 'hash', where), SUPPORTED_HASHES, 'digest hash');
  return {
    id,
    keyslots: strArray(o, 'keyslots', where, MAX_KEYSLOTS),
    segments: strArray(o, 'segments', where, MAX_SEGMENTS),
    hash,
    iterations: int(o, 'iterations', where, 1000, 2 ** 32 - 1),
    salt: b64(o, 'salt', where, 8, 64),
    digest: b64(o, 'digest', where, HASH_BYTES[hash], HASH_BYTES[hash]),
  };
}

function overlaps(a: { start: number; end: number }, b: { start: number; end: number }): boolean {
  return a.start < b.end && b.start < a.end;
}

/** Validates a parsed JSON value as LUKS2 metadata of a header of `hdrSize` bytes. */
export function parseMetadata(raw: unknown, hdrSize: number): Metadata {
  const root = obj(raw, 'metadata');
  for (const k of ['keyslots', 'tokens', 'segments', 'digests', 'config']) obj(root[k], k);
  const config = root.config as Obj;
  const jsonSize = u64(config, 'json_size', 'config');
  if (jsonSize !== hdrSize - BINARY_HEADER_BYTES) throw new MetadataError(`config.json_size ${jsonSize} does not match the header size ${hdrSize}`);
  const keyslotsSize = u64(config, 'keyslots_size', 'config');
  if (keyslotsSize % KEYSLOT_ALIGN !== 0) throw new MetadataError('config.keyslots_size is not 4 KiB aligned');
  const flags = strArray(config, 'flags', 'config', 16, false);
  if (config.requirements !== undefined) {
    const req = obj(config.requirements, 'config.requirements');
    const mandatory = strArray(req, 'mandatory', 'config.requirements', 16, false);
    if (mandatory.length) throw new MetadataError(`volume requires features this build lacks: ${mandatory.join(', ').slice(0, 80)}`);
  }

  const slotSection = root.keyslots as Obj;
  const keyslots = ids(slotSection, 'keyslots', MAX_KEYSLOTS).map((id) => parseKeyslot(id, slotSection[id]));
  const segSection = root.segments as Obj;
  const segments = ids(segSection, 'segments', MAX_SEGMENTS).map((id) => parseSegment(id, segSection[id]));
  const digSection = root.digests as Obj;
  const digests = ids(digSection, 'digests', MAX_DIGESTS).map((id) => parseDigest(id, digSection[id]));
  const tokenIds = ids(root.tokens as Obj, 'tokens', MAX_TOKENS);

  // keyslot areas: within [2*hdrSize, 2*hdrSize + keyslots_size), pairwise disjoint
  const areaStart = 2 * hdrSize;
  const areaEnd = areaStart + keyslotsSize;
  const spans: { id: string; start: number; end: number }[] = [];
  for (const ks of keyslots) {
    const s = { id: ks.id, start: ks.area.offset, end: ks.area.offset + ks.area.size };
    if (s.start < areaStart || s.end > areaEnd) throw new MetadataError(`keyslots.${ks.id}.area lies outside the keyslots area`);
    const clash = spans.find((t) => overlaps(s, t));
    if (clash) throw new MetadataError(`keyslots.${ks.id}.area overlaps keyslots.${clash.id}.area`);
    spans.push(s);
  }
  // segments: past the keyslots area, pairwise disjoint, at most one dynamic (the last)
  const segSpans: { id: string; start: number; end: number }[] = [];
  for (const seg of segments) {
    if (seg.offset < areaEnd) throw new MetadataError(`segments.${seg.id} overlaps the header or keyslots area`);
    const end = seg.size === 'dynamic' ? Number.MAX_SAFE_INTEGER : seg.offset + seg.size;
    const s = { id: seg.id, start: seg.offset, end };
    const clash = segSpans.find((t) => overlaps(s, t));
    if (clash) throw new MetadataError(`segments.${seg.id} overlaps segments.${clash.id}`);
    segSpans.push(s);
  }
  // digests name existing keyslots and segments; each keyslot has at most one digest
  const seen = new Set<string>();
  for (const d of digests) {
    for (const k of d.keyslots) {
      if (!keyslots.some((ks) => ks.id === k)) throw new MetadataError(`digests.${d.id} names missing keyslot '${k}'`);
      if (seen.has(k)) throw new MetadataError(`keyslot ${k} is named by more than one digest`);
      seen.add(k);
    }
    for (const s of d.segments) {
      if (!segments.some((seg) => seg.id === s)) throw new MetadataError(`digests.${d.id} names missing segment '${s}'`);
    }
  }
  return { keyslots, segments, digests, tokenIds, jsonSize, keyslotsSize, flags, raw: root };
}

/** The JSON text as written to the area: compact, like cryptsetup's json-c output. */
export function serializeMetadata(md: Metadata): Buffer {
  const text = Buffer.from(JSON.stringify(md.raw), 'utf8');
  if (text.length >= md.jsonSize) throw new MetadataError('metadata does not fit the JSON area');
  const area = Buffer.alloc(md.jsonSize);
  text.copy(area);
  return area;
}

/** Bytes of key material a keyslot area holds, rounded up to the 4 KiB alignment. */
export function keyslotAreaSize(keySize: number, stripes = AF_STRIPES): number {
  return Math.ceil((keySize * stripes) / KEYSLOT_ALIGN) * KEYSLOT_ALIGN;
}

/** Picks the lowest free keyslot id and the first free, aligned area gap that fits `size`. */
export function allocateKeyslot(md: Metadata, hdrSize: number, size: number): { id: string; offset: number } {
  let id = -1;
  for (let i = 0; i < MAX_KEYSLOTS; i++)
    if (!md.keyslots.some((k) => k.id === String(i))) {
      id = i;
      break;
    }
  if (id < 0) throw new MetadataError('all keyslots are in use');
  const start = 2 * hdrSize;
  const end = start + md.keyslotsSize;
  const used = md.keyslots.map((k) => ({ start: k.area.offset, end: k.area.offset + k.area.size })).sort((a, b) => a.start - b.start);
  let cursor = start;
  for (const u of used) {
    if (u.start - cursor >= size) break;
    cursor = Math.max(cursor, Math.ceil(u.end / KEYSLOT_ALIGN) * KEYSLOT_ALIGN);
  }
  if (cursor + size > end) throw new MetadataError('no room left in the keyslots area');
  return { id: String(id), offset: cursor };
}
