/**
 * Which container an operation targets: the `container` query parameter (kubectl always
 * sends it), else the pod's first container as its agent reports it, as the kubelet does
 * for single-container pods.
 */
import { ShadowplaneError } from '../../errors.ts';
import type { OperationContext } from './service.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export async function containerOf(ctx: OperationContext): Promise<string> {
  const given = ctx.query.get('container');
  if (given !== null && given !== '') {
    if (!DNS_LABEL.test(given)) throw new ShadowplaneError('SP_BAD_REQUEST', 'container is not a DNS label');
    return given;
  }
  const info = await ctx.connection.info();
  const first = info.containers[0];
  if (first === undefined) throw new ShadowplaneError('SP_CONTAINER_NOT_FOUND', 'the pod\'s agents serve no container');
  return first.name;
}
