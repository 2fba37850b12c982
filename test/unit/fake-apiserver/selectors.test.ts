import { describe, expect, it } from 'vitest';
import { isShadowplaneError } from '../../../src/errors.ts';
import { parseFieldSelector, parseLabelSelector, pinnedName } from '../../support/fake-apiserver/selectors.ts';
import { podType } from '../../support/fake-apiserver/pods.ts';

const labels = { app: 'web', tier: 'front', 'example.com/team': 'a', n: '5' };

describe('label selectors', () => {
  it.each([
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app!=db', true],
    ['missing!=x', true],
    ['app', true],
    ['!app', false],
    ['!missing', true],
    ['app in (web, db)', true],
    ['app notin (web,db)', false],
    ['tier in (back)', false],
    ['app=web,tier=front', true],
    ['app=web,tier=back', false],
    ['example.com/team=a', true],
    ['n>3', true],
    ['n<3', false],
    ['', true],
  ])('%s → %s', (selector, expected) => {
    expect(parseLabelSelector(selector)(labels)).toBe(expected);
  });

  it.each(['app=(', 'in (a)', 'app in (a', 'app=web,', 'bad key=1', 'app=va lue', 'n>x'])('refuses %s with SP_BAD_REQUEST', (selector) => {
    try {
      parseLabelSelector(selector);
      expect.unreachable();
    } catch (err) {
      expect(isShadowplaneError(err, 'SP_BAD_REQUEST')).toBe(true);
    }
  });
});

describe('field selectors', () => {
  const pod = { metadata: { name: 'p1', namespace: 'ns' }, spec: { nodeName: 'n1' }, status: { phase: 'Running', podIP: '127.0.1.5' } };

  it('matches the fields pods support, with = == and !=', () => {
    expect(parseFieldSelector('metadata.name=p1', podType.fields)(pod)).toBe(true);
    expect(parseFieldSelector('status.phase==Running,spec.nodeName!=n2', podType.fields)(pod)).toBe(true);
    expect(parseFieldSelector('status.podIP=127.0.1.6', podType.fields)(pod)).toBe(false);
  });

  it('refuses a field the resource does not support', () => {
    try {
      parseFieldSelector('spec.image=x', podType.fields);
      expect.unreachable();
    } catch (err) {
      expect(isShadowplaneError(err, 'SP_BAD_REQUEST')).toBe(true);
    }
  });

  it('handles escaped separators and finds a pinned name', () => {
    expect(pinnedName('metadata.name=a\\,b,status.phase=Running')).toBe('a,b');
    expect(pinnedName('status.phase=Running')).toBeUndefined();
  });
});
