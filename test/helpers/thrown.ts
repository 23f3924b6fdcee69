// The error a call throws, for tests that check its class, message or code.
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('it threw nothing');
}
