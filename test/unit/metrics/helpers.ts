import { seededRandom } from '../../support/testing.ts';

export { expectCode } from '../../support/testing.ts';


/** A small deterministic PRNG (mulberry32) for seeded fuzzing. */
export const prng = seededRandom;

/** `body` with 1 to 4 random edits: a piece of `alphabet` inserted or written over, a few characters cut, or 40 repeated. */
export function mutateExposition(body: string, random: () => number, alphabet: readonly string[]): string {
  for (let e = 1 + Math.floor(random() * 4); e > 0; e--) {
    const at = Math.floor(random() * (body.length + 1));
    const op = random();
    const piece = alphabet[Math.floor(random() * alphabet.length)]!;
    if (op < 0.4) body = body.slice(0, at) + piece + body.slice(at);
    else if (op < 0.7) body = body.slice(0, at) + body.slice(at + 1 + Math.floor(random() * 5));
    else if (op < 0.85) body = body.slice(0, at) + piece + body.slice(at + 1);
    else body = body.slice(0, at) + body.slice(at, at + 40) + body.slice(at);
  }
  return body;
}
