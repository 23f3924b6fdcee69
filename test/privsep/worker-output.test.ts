// The user worker runs as the user, who may ptrace it (same uid; Debian has no
// Yama restriction by default) and make it print anything. Root reads those
// lines in a stream handler, where a throw kills root's process mid-setup:
// `5`, `null`, or an error named "__proto__" did exactly that (a TypeError in
// `'progress' in 5`, and `new kinds["__proto__"]`).
import { describe, expect, it } from 'vitest';
import { parseWorkerLine, rebuild, UserWorkerError } from '../../src/session/user-worker-client.js';
import { RefusedError } from '../../src/errors.js';

describe("root parses the user worker's output defensively", () => {
  it('skips lines that are not objects of the expected shape, without throwing', () => {
    for (const line of [
      '5',
      'null',
      'true',
      '"x"',
      '[]',
      '[1]',
      '{}',
      'not json',
      '{"progress":3}',
      '{"progress":null}',
      '{"result":5}',
      '{"result":"x"}',
      '{"error":null}',
      '{"error":{"name":5,"message":"m"}}',
      '{"error":{"name":"E"}}',
      '{"error":"x"}',
    ]) {
      expect(() => parseWorkerLine(line), line).not.toThrow();
      expect(parseWorkerLine(line), line).toBeNull();
    }
  });

  it('passes the three real kinds of line', () => {
    expect(parseWorkerLine('{"result":null}')).toEqual({ result: null });
    expect(parseWorkerLine('{"result":{"files":1,"bytes":2,"largest":2,"problems":[]}}')).toEqual({ result: { files: 1, bytes: 2, largest: 2, problems: [] } });
    expect(parseWorkerLine('{"progress":{"files":1,"bytes":2}}')).toEqual({ progress: { files: 1, bytes: 2 } });
    expect(parseWorkerLine('{"error":{"name":"RefusedError","message":"no","code":"EACCES"}}')).toEqual({
      error: { name: 'RefusedError', message: 'no', code: 'EACCES' },
    });
    expect(parseWorkerLine('{"error":{"name":"Error","message":"no","code":7}}')).toEqual({ error: { name: 'Error', message: 'no' } });
  });

  it('an error named after an Object.prototype member is no known kind: a plain worker error, not a crash', () => {
    const user = { name: 'someone', uid: 1000, gid: 1000, home: '/home/someone', shell: '/bin/sh' };
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const e = rebuild({ name, message: 'm' }, user);
      expect(e, name).toBeInstanceOf(UserWorkerError);
      expect(e.message).toBe('as someone: m');
    }
    expect(rebuild({ name: 'RefusedError', message: 'no' }, user)).toBeInstanceOf(RefusedError);
  });
});
