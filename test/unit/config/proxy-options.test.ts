import { describe, expect, it } from 'vitest';
import { parseProxyOptions } from '../../../src/config/proxy-options.ts';
import { codeOf } from '../../support/testing.ts';

describe('proxy options: revocation', () => {
  it('applies no CRL file and requires none by default (the simulated path has no CRLs; the CLI warns for real platforms)', () => {
    const o = parseProxyOptions(['--manifest', 'm.yaml'], {});
    expect(o.crlFiles).toEqual([]);
    expect(o.requireCrls).toBe(false);
  });

  it('takes repeated --crl files and --require-crls', () => {
    const o = parseProxyOptions(['--manifest', 'm.yaml', '--crl', '/crl/amd.der', '--crl', '/crl/intel.pem', '--require-crls'], {});
    expect(o.crlFiles).toEqual(['/crl/amd.der', '/crl/intel.pem']);
    expect(o.requireCrls).toBe(true);
    expect(Object.isFrozen(o.crlFiles)).toBe(true);
  });

  it('refuses more than 16 CRL files', () => {
    const argv = ['--manifest', 'm.yaml', ...Array.from({ length: 17 }, (_, i) => ['--crl', `/c${i}`]).flat()];
    expect(codeOf(() => parseProxyOptions(argv, {}))).toBe('SP_USAGE');
  });
});
