// Fixed numbers of the LUKS2 on-disk layout (cryptsetup docs/on-disk-format-luks2.pdf).
// Kept apart so the parsers and the writer agree on one set of bounds.

export const BINARY_HEADER_BYTES = 4096;
export const MAGIC_PRIMARY = Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]); // "LUKS\xba\xbe"
export const MAGIC_SECONDARY = Buffer.from([0x53, 0x4b, 0x55, 0x4c, 0xba, 0xbe]); // "SKUL\xba\xbe"
export const LUKS2_VERSION = 2;

/** The header sizes (binary header + JSON area) cryptsetup accepts: 16 KiB … 4 MiB. */
export const VALID_HEADER_SIZES: readonly number[] = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096].map((k) => k * 1024);
export const DEFAULT_HEADER_SIZE = 16 * 1024;
/** What cryptsetup luksFormat lays out by default: data at 16 MiB. */
export const DEFAULT_DATA_OFFSET = 16 * 1024 * 1024;

/** The AF splitter's stripe count; cryptsetup writes and requires 4000. */
export const AF_STRIPES = 4000;
/** Keyslot areas are aligned (and sized) to 4 KiB. */
export const KEYSLOT_ALIGN = 4096;
export const MAX_KEYSLOTS = 32;
export const MAX_TOKENS = 32;
export const MAX_SEGMENTS = 32;
export const MAX_DIGESTS = 32;
/** JSON nesting cryptsetup's metadata never exceeds; deeper input is hostile. */
export const MAX_JSON_DEPTH = 12;

export const SECTOR = 512;
export const VALID_SECTOR_SIZES: readonly number[] = [512, 1024, 2048, 4096];
