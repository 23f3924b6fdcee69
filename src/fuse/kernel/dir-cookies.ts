// Directory offsets (d_off) that stay the same for an entry across listings.
// A reader resumes a listing at the offset of the last entry it got, and the
// kernel keeps listings (FOPEN_CACHE_DIR) built from the replies of several
// opens of the directory, each read at its own time: were offsets positions in
// each listing, an entry added or removed between two listings would shift
// them, and a reader (or the kernel's cache) resuming in another listing
// would skip or repeat entries that were there all along. So each name of a
// directory gets a number the first time it is listed, kept while it is
// there; a listing goes in the order of those numbers, and resuming at offset
// X gives the entries numbered above X (new names come last, as they are
// numbered last). ext4 does the same with hashes of the names.
import type { DirEntry } from '../bridge.js';

export type Listed = string | DirEntry;

const nameOf = (e: Listed): string => (typeof e === 'string' ? e : e.name);

export class DirCookies {
  private numbers = new Map<string, number>();
  private next = 1;

  /**
   * `listing` in the order of its names' numbers, with those numbers; names
   * not seen before get the next ones, names no longer there are forgotten.
   */
  place(listing: Listed[]): { entries: Listed[]; cookies: number[] } {
    const numbers = new Map<string, number>();
    const cookies = new Array<number>(listing.length);
    let sorted = true;
    for (let i = 0; i < listing.length; i++) {
      const name = nameOf(listing[i]!);
      // a name listed twice (a damaged lower directory can give that) gets a number of its own
      const first = !numbers.has(name);
      const n = first ? (this.numbers.get(name) ?? this.next++) : this.next++;
      if (first) numbers.set(name, n);
      cookies[i] = n;
      if (i > 0 && n < cookies[i - 1]!) sorted = false;
    }
    this.numbers = numbers;
    if (sorted) return { entries: listing, cookies };
    const order = listing.map((_, i) => i).sort((a, b) => cookies[a]! - cookies[b]!);
    return { entries: order.map((i) => listing[i]!), cookies: order.map((i) => cookies[i]!) };
  }
}

/** Index of the first of ascending `cookies` above `offset` (cookies.length if none). */
export function resumeAt(cookies: number[], offset: number): number {
  let lo = 0;
  let hi = cookies.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cookies[mid]! <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
