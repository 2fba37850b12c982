import { describe, expect, it } from 'vitest';
import { sharedPreviousLogs } from '../../../src/agent/logs-handler.ts';
import type { LogBlock } from '../../../src/agent/log-block.ts';

describe('the previous run\'s logs, shared by their readers', () => {
  it('reads the files once for all readers that hold them, and lets go when the last is done', () => {
    let reads = 0;
    const shared = sharedPreviousLogs(() => {
      reads++;
      return [] as readonly LogBlock[];
    });
    const a = shared.acquire();
    const b = shared.acquire();
    expect(a).toBe(b);
    expect(reads).toBe(1);
    shared.release();
    expect(shared.acquire()).toBe(a);
    shared.release();
    shared.release();
    // All released: the next reader reads again (nothing is held between readers).
    expect(shared.acquire()).not.toBe(a);
    expect(reads).toBe(2);
    shared.release();
    shared.release(); // an extra release changes nothing
  });

  it('holds nothing when there was no previous run', () => {
    const shared = sharedPreviousLogs(() => undefined);
    expect(shared.acquire()).toBeUndefined();
    shared.release();
  });
});
