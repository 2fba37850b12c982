/** Kubernetes object names (DNS-1123), as the API server validates them. */

/** A DNS-1123 label: container, namespace and port names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A DNS-1123 subdomain: most object names (pods, deployments, config maps). */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** True for `CONTAINER` or `OBJECT/CONTAINER`, the container selectors of inject's options. */
export function isContainerSelector(selector: string): boolean {
  const parts = selector.split('/');
  return (parts.length === 1 && DNS_LABEL.test(parts[0] ?? '')) || (parts.length === 2 && DNS_SUBDOMAIN.test(parts[0] ?? '') && DNS_LABEL.test(parts[1] ?? ''));
}
