// The volume config's parser on hostile input (src/format/volume-config.ts):
// every bad file is a clear CorruptFileError or UnsupportedFormatError.
import { describe, expect, it } from 'vitest';
import { parseVolumeConfig } from '../../src/format/volume-config.js';
import { thrown } from '../helpers/thrown.js';
import { CorruptFileError, UnsupportedFormatError } from '../../src/errors.js';

describe('parseVolumeConfig', () => {
  it('names an unsupported version without printing what the file holds (a deeply nested list overflowed the stack)', () => {
    const deep = `{"format":"homecrypt-volume","version":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const e = thrown(() => parseVolumeConfig(Buffer.from(deep), 'c'));
    expect(e).toBeInstanceOf(UnsupportedFormatError);
    expect(e.message).toMatch(/version of type list is not supported/);
    for (const [v, said] of [
      ['99', '99'],
      ['"2"', 'of type string'],
      ['null', 'of type null'],
      ['{"toString":1}', 'of type object'],
    ]) {
      const err = thrown(() => parseVolumeConfig(Buffer.from(`{"format":"homecrypt-volume","version":${v}}`), 'c'));
      expect(err).toBeInstanceOf(UnsupportedFormatError);
      expect(err.message).toContain(`version ${said} is not supported`);
    }
  });

  it('refuses what is not JSON, or not a volume config', () => {
    expect(thrown(() => parseVolumeConfig(Buffer.from('{'), 'c'))).toBeInstanceOf(CorruptFileError);
    expect(thrown(() => parseVolumeConfig(Buffer.from('[]'), 'c'))).toBeInstanceOf(CorruptFileError);
    expect(thrown(() => parseVolumeConfig(Buffer.from('null'), 'c'))).toBeInstanceOf(CorruptFileError);
  });
});
