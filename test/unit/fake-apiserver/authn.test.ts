import { describe, expect, it } from 'vitest';
import { authenticate, impersonate, parseImpersonation, type TokenIdentity } from '../../support/fake-apiserver/authn.ts';
import { authorize } from '../../support/fake-apiserver/authz.ts';
import type { ConnectionInfo } from '../../support/fake-apiserver/listener.ts';
import { requestInfo } from '../../support/fake-apiserver/request-info.ts';
import { ApiError } from '../../support/fake-apiserver/status.ts';

const tokens = new Map<string, TokenIdentity>([
  ['tok-admin', { user: 'admin', groups: ['system:masters'] }],
  ['tok-proxy', { user: 'system:serviceaccount:shadowplane:proxy', groups: [] }],
  ['tok-bob', { user: 'bob', groups: ['dev'] }],
]);
const noCert: ConnectionInfo = { id: 1, alpn: 'h2', clientCertificate: null, presentedCertificate: false };
const impersonators = { users: ['system:serviceaccount:shadowplane:proxy'], groups: ['system:masters'] };

function statusOf(f: () => unknown): { code: number; message: string | undefined } | undefined {
  try {
    f();
  } catch (err) {
    if (err instanceof ApiError) return { code: err.code, message: err.status.message };
    throw err;
  }
  return undefined;
}

describe('authentication', () => {
  it('maps a bearer token to its identity and adds system:authenticated', () => {
    const a = authenticate({ authorization: ['Bearer tok-bob'] }, noCert, tokens);
    expect(a).toEqual({ method: 'token', user: { user: 'bob', groups: ['dev', 'system:authenticated'] } });
  });

  it('answers 401 for an unknown token and for no credential at all', () => {
    expect(statusOf(() => authenticate({ authorization: ['Bearer nope'] }, noCert, tokens))).toEqual({ code: 401, message: 'Unauthorized' });
    expect(statusOf(() => authenticate({}, noCert, tokens))?.code).toBe(401);
    expect(statusOf(() => authenticate({ authorization: ['Basic Ym9iOng='] }, noCert, tokens))?.code).toBe(401);
  });

  it('prefers a verified client certificate (CN user, O groups) over a token', () => {
    const conn: ConnectionInfo = { ...noCert, clientCertificate: { user: 'carol', groups: ['ops', 'dev'] }, presentedCertificate: true };
    expect(authenticate({ authorization: ['Bearer tok-admin'] }, conn, tokens).user).toEqual({ user: 'carol', groups: ['ops', 'dev', 'system:authenticated'] });
  });
});

describe('impersonation', () => {
  const proxy = { user: 'system:serviceaccount:shadowplane:proxy', groups: ['system:authenticated'] };
  const bob = { user: 'bob', groups: ['dev', 'system:authenticated'] };

  it('lets a configured impersonator act as user, groups, uid and extra', () => {
    const req = parseImpersonation({
      'impersonate-user': ['alice'],
      'impersonate-group': ['team,with,comma', 'ops'],
      'impersonate-uid': ['u-1'],
      'impersonate-extra-scopes%2Fread': ['a', 'b'],
    });
    expect(impersonate(proxy, req, impersonators)).toEqual({
      user: 'alice',
      groups: ['team,with,comma', 'ops', 'system:authenticated'],
      uid: 'u-1',
      extra: { 'scopes/read': ['a', 'b'] },
    });
  });

  it('refuses a user who is not an impersonator with the API server wording', () => {
    const st = statusOf(() => impersonate(bob, parseImpersonation({ 'impersonate-user': ['admin'] }), impersonators));
    expect(st).toEqual({ code: 403, message: 'users "admin" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope' });
  });

  it('allows members of an impersonator group', () => {
    expect(impersonate({ user: 'root', groups: ['system:masters'] }, parseImpersonation({ 'impersonate-user': ['x'] }), impersonators).user).toBe('x');
  });

  it('refuses groups, uid or extra without a user', () => {
    expect(statusOf(() => parseImpersonation({ 'impersonate-group': ['g'] }))?.code).toBe(500);
    expect(statusOf(() => parseImpersonation({ 'impersonate-uid': ['u'] }))?.code).toBe(500);
    expect(statusOf(() => parseImpersonation({ 'impersonate-extra-k': ['v'] }))?.code).toBe(500);
  });

  it('refuses a repeated Impersonate-User', () => {
    expect(statusOf(() => parseImpersonation({ 'impersonate-user': ['a', 'b'] }))?.code).toBe(400);
  });

  it('gives an impersonated service account its service-account groups', () => {
    const u = impersonate(proxy, parseImpersonation({ 'impersonate-user': ['system:serviceaccount:ns1:sa'] }), impersonators);
    expect(u.groups).toEqual(['system:serviceaccounts', 'system:serviceaccounts:ns1', 'system:authenticated']);
  });

  it('changes nothing without Impersonate-* headers', () => {
    expect(impersonate(bob, parseImpersonation({}), impersonators)).toBe(bob);
  });
});

describe('authorization rules', () => {
  const rules = { bob: [{ verbs: ['get', 'list'], resources: ['pods'], namespaces: ['team'] }, { verbs: ['create'], resources: ['pods/exec'] }] };
  const bob = { user: 'bob', groups: [] };
  const info = (method: string, path: string) => requestInfo(method, path, new URLSearchParams());

  it('allows what a rule grants and everything to users without rules', () => {
    expect(() => authorize(bob, info('GET', '/api/v1/namespaces/team/pods'), rules)).not.toThrow();
    expect(() => authorize(bob, info('POST', '/api/v1/namespaces/x/pods/p/exec'), rules)).not.toThrow();
    expect(() => authorize({ user: 'eve', groups: [] }, info('DELETE', '/api/v1/namespaces/x/pods/p'), rules)).not.toThrow();
    expect(() => authorize(bob, info('GET', '/apis'), rules)).not.toThrow();
  });

  it('refuses the rest with the API server wording', () => {
    expect(statusOf(() => authorize(bob, info('GET', '/api/v1/namespaces/other/pods/p1'), rules))).toEqual({
      code: 403,
      message: 'pods "p1" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "other"',
    });
    expect(statusOf(() => authorize(bob, info('GET', '/api/v1/namespaces'), rules))?.message).toBe(
      'namespaces is forbidden: User "bob" cannot list resource "namespaces" in API group "" at the cluster scope',
    );
    expect(statusOf(() => authorize(bob, info('GET', '/api/v1/namespaces/team/pods/p/log'), rules))?.message).toBe(
      'pods "p" is forbidden: User "bob" cannot get resource "pods/log" in API group "" in the namespace "team"',
    );
  });
});
