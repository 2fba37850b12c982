import { describe, expect, it } from 'vitest';
import { LabelSetKeyer } from '../../../src/metrics/label-key.ts';
import { prng } from './helpers.ts';

describe('label set keys', () => {
  it('are equal exactly when label sets are equal, whatever the order, in both modes (seed 5, 3000 pairs)', () => {
    const random = prng(5);
    const names = ['a', 'b', 'c', 'le'];
    const values = ['', 'x', 'y', 'x\u0000y', 'x,y="z"', '\\', '\n'];
    const randomSet = (): Map<string, string> => {
      const set = new Map<string, string>();
      for (const name of names) if (random() < 0.6) set.set(name, values[Math.floor(random() * values.length)]!);
      return set;
    };
    const flat = (set: Map<string, string>): string[] => {
      const pairs = [...set].sort(() => random() - 0.5);
      return pairs.flat();
    };
    for (const joined of [false, true]) {
      const keyer = new LabelSetKeyer({ joined });
      for (let i = 0; i < 3000; i++) {
        const s1 = randomSet();
        const s2 = random() < 0.5 ? new Map(s1) : randomSet();
        const l1 = flat(s1);
        const l2 = flat(s2);
        const same = s1.size === s2.size && [...s1].every(([k, v]) => s2.get(k) === v);
        expect(keyer.key(l1, l1.length, -1) === keyer.key(l2, l2.length, -1)).toBe(same);
      }
    }
  });

  it('uses the raw label text when it is compact and in reference order, consistently with built keys', () => {
    const keyer = new LabelSetKeyer();
    const raw = 'a="1",b="x\\"y"';
    const first = keyer.key(['a', '1', 'b', 'x"y'], 4, -1, raw, 0, raw.length, true);
    expect(first).toBe(raw);
    expect(keyer.key(['b', 'x"y', 'a', '1'], 4, -1)).toBe(raw);
    expect(keyer.key(['a', '1', 'le', '5', 'b', 'x"y'], 6, 2)).toBe(raw);
  });
});
