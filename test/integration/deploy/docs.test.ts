/**
 * The operator documentation against the repository: links stay inside it and land on
 * files and headings that exist, and the audit endpoint's documentation covers what the
 * code serves (parameters, every field a record can carry, the retention it enforces).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, type AuditOperation } from '../../../src/proxy/audit.ts';
import { REPO } from '../../support/bed.ts';

const DOCS = [join(REPO, 'README.md'), ...readdirSync(join(REPO, 'docs')).filter((n) => n.endsWith('.md')).map((n) => join(REPO, 'docs', n))];

/** Markdown text outside fenced code blocks. */
function prose(text: string): string {
  return text.split(/^```.*$/m).filter((_, i) => i % 2 === 0).join('\n');
}

/** GitHub's heading anchors (lower case, punctuation dropped, spaces to hyphens). */
function anchorsOf(file: string): Set<string> {
  const out = new Set<string>();
  for (const m of prose(readFileSync(file, 'utf8')).matchAll(/^#{1,6}\s+(.+)$/gm)) {
    out.add(m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-'));
  }
  return out;
}

const inside = (p: string): boolean => !relative(REPO, p).startsWith('..');

describe('the documentation', () => {
  // Bug (docs-vs-deployment review): README.md pointed at ../shared/design/ARCHITECTURE.md,
  // a file outside this repository that its readers do not have.
  it('refers to nothing outside this repository, and every link lands on a file and heading that exist', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    for (const m of readme.matchAll(/(?:\.\.\/)+[\w./-]+/g)) expect(inside(resolve(REPO, m[0])), `README.md: ${m[0]}`).toBe(true);
    for (const file of DOCS) {
      const where = relative(REPO, file);
      for (const m of prose(readFileSync(file, 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const linked = path === '' ? file : resolve(dirname(file), path);
        expect(inside(linked), `${where}: ${target}`).toBe(true);
        expect(existsSync(linked), `${where}: ${target}`).toBe(true);
        if (anchor !== undefined && linked.endsWith('.md')) expect(anchorsOf(linked), `${where}: ${target}`).toContain(anchor);
      }
    }
  });

  // Bug (docs-vs-deployment review): the `audit` verb had no operator documentation.
  it('documents the audit endpoint: who reads it, its parameters, every field a record can hold, and the retention the proxy enforces', () => {
    const manifestDoc = readFileSync(join(REPO, 'docs/manifest.md'), 'utf8');
    const start = manifestDoc.indexOf('\n## The audit record');
    expect(start).toBeGreaterThan(0);
    const section = manifestDoc.slice(start, manifestDoc.indexOf('\n## ', start + 1) === -1 ? undefined : manifestDoc.indexOf('\n## ', start + 1));
    expect(section).toContain('GET');
    expect(section).toContain('/.well-known/shadowplane/audit');
    for (const word of ['`audit`', '`namespace`', '`since`', '`limit`', 'SP_FORBIDDEN', 'SP_UNAUTHENTICATED', 'SP_BAD_REQUEST', 'restart']) expect(section).toContain(word);

    // Every field a record can carry, as the endpoint serializes it (an operation that ran
    // to its end with every outcome set, and a refusal).
    const log = new AuditLog();
    const record = log.begin({ user: 'alice', namespace: 'payments', pod: 'api-0', container: 'app', operation: 'exec', protocol: 'v5.channel.k8s.io' });
    log.finish(record, { bytesIn: 1, bytesOut: 2, exitCode: 0, error: 'SP_CLIENT_GONE' });
    log.refused({ user: 'alice', namespace: 'payments', pod: 'api-1', container: undefined, operation: 'logs', protocol: 'h2' }, 'SP_FORBIDDEN');
    const fields = new Set(log.query({ namespaces: () => true }).flatMap((r) => Object.keys(JSON.parse(JSON.stringify(r)) as object)));
    expect([...fields].sort()).toEqual(['bytesIn', 'bytesOut', 'container', 'end', 'error', 'exitCode', 'id', 'namespace', 'operation', 'pod', 'protocol', 'start', 'user']);
    for (const f of fields) expect(section, f).toContain(`\`${f}\``);
    const operations: Record<AuditOperation, true> = { exec: true, attach: true, logs: true, portforward: true, 'pod-proxy': true, 'service-proxy': true };
    for (const op of Object.keys(operations)) expect(section, op).toContain(`\`${op}\``);

    // The two rings and their sizes, as documented.
    expect(section).toContain('100,000');
    expect(section).toContain('10,000');
    const full = new AuditLog();
    for (let i = 0; i < 100_001; i++) full.begin({ user: 'u', namespace: 'payments', pod: 'p', container: undefined, operation: 'exec', protocol: 'h2' });
    for (let i = 0; i < 10_001; i++) full.refused({ user: 'u', namespace: 'payments', pod: 'p', container: undefined, operation: 'exec', protocol: 'h2' }, 'SP_FORBIDDEN');
    const kept = full.query({ namespaces: () => true });
    expect(kept.filter((r) => r.error === undefined)).toHaveLength(100_000);
    expect(kept.filter((r) => r.error === 'SP_FORBIDDEN')).toHaveLength(10_000);
  });
});
