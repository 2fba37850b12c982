import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, ShadowplaneError, asShadowplaneError } from '../../src/errors.ts';

describe('error catalogue', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

  it('documents every code in docs/errors.md', () => {
    const undocumented = Object.keys(ERRORS).filter((code) => !new RegExp(`^\\| ${code} \\|`, 'm').test(doc));
    expect(undocumented).toEqual([]);
  });

  it('tells the reader what to do about every code', () => {
    const empty = doc.split('\n').filter((l) => l.startsWith('| SP_')).filter((l) => (l.split('|')[4] ?? '').trim() === '');
    expect(empty).toEqual([]);
  });

  it('documents no code that does not exist', () => {
    const documented = [...doc.matchAll(/^\| (SP_[A-Z0-9_]+) \|/gm)].map((m) => m[1]);
    expect(documented.filter((code) => !(code! in ERRORS))).toEqual([]);
  });

  it('gives every code a client-facing HTTP status', () => {
    for (const entry of Object.values(ERRORS)) expect(entry.http).toBeGreaterThanOrEqual(400);
  });

  it('never copies a foreign error message when wrapping it', () => {
    const wrapped = asShadowplaneError(new Error('secret-payload-bytes'), 'SP_AGENT_SESSION_LOST');
    expect(wrapped.code).toBe('SP_AGENT_SESSION_LOST');
    expect(wrapped.message).not.toContain('secret-payload-bytes');
    expect(new ShadowplaneError('SP_FORBIDDEN', 'exec in payments').message).toContain('exec in payments');
  });
});
