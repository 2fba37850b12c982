/**
 * The audit record's two rings: operations, and refusals kept apart so that a flood of
 * refused requests (any authenticated user can make them) cannot push out the record of
 * what someone did.
 */
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../../src/proxy/audit.ts';

describe('audit log', () => {
  it('keeps operation records however many refusals arrive, and answers both in start order', () => {
    let t = Date.parse('2026-12-01T00:00:00Z');
    const audit = new AuditLog({ maxRecords: 100, maxRefusals: 10, now: () => new Date((t += 1000)) });
    const fields = { namespace: 'payments', container: undefined, protocol: 'h2' } as const;
    const exec = audit.begin({ ...fields, user: 'alice', pod: 'api-0', operation: 'exec' });
    audit.finish(exec, { exitCode: 0, bytesOut: 3 });
    for (let i = 0; i < 1000; i++) audit.refused({ ...fields, user: 'bob', pod: 'api-0', operation: 'exec' }, 'SP_FORBIDDEN');
    const logs = audit.begin({ ...fields, user: 'alice', pod: 'api-1', operation: 'logs' });
    const all = audit.query({ namespaces: () => true });
    expect(all.filter((r) => r.user === 'alice').map((r) => r.id)).toEqual([exec.id, logs.id]);
    const refusals = all.filter((r) => r.user === 'bob');
    expect(refusals).toHaveLength(10);
    expect(refusals.every((r) => r.error === 'SP_FORBIDDEN' && r.end === r.start)).toBe(true);
    expect(all.map((r) => r.start)).toEqual([...all.map((r) => r.start)].sort());
    expect(all.at(-1)!.id).toBe(logs.id);
  });
});
