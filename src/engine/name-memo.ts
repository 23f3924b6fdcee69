// Names already sealed or opened, by directory IV and then by name. Keyed by
// the IV's Buffer (the one DirIvCache holds for the directory, so a directory
// read again gets a fresh table), not by the IV's bytes joined to the name:
// a lookup then hashes the name alone and builds no string (format 2's names
// cost a concatenation and a longer key's hash per lookup otherwise).
// Format 1 names (no IV) share one table.

/** Entries kept over all tables before every table is dropped (as a Map's clear did). */
const MAX_ENTRIES = 50_000;

export class NameMemo {
  private byIv = new WeakMap<Buffer, Map<string, string>>();
  private readonly noIv = new Map<string, string>();
  private entries = 0;

  get(iv: Buffer | undefined, name: string): string | undefined {
    return (iv ? this.byIv.get(iv) : this.noIv)?.get(name);
  }

  has(iv: Buffer | undefined, name: string): boolean {
    return (iv ? this.byIv.get(iv) : this.noIv)?.has(name) ?? false;
  }

  set(iv: Buffer | undefined, name: string, value: string): void {
    if (this.entries >= MAX_ENTRIES) {
      this.byIv = new WeakMap();
      this.noIv.clear();
      this.entries = 0;
    }
    let table = iv ? this.byIv.get(iv) : this.noIv;
    if (!table) this.byIv.set(iv!, (table = new Map()));
    if (!table.has(name)) this.entries++;
    table.set(name, value);
  }
}
