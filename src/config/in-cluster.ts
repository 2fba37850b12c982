/**
 * Where a pod reaches its cluster's API server: the address Kubernetes puts in every
 * container's environment, and the service account mount beside it.
 */

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** `https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT`, or undefined outside a pod. */
export function inClusterApiServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (host === undefined || host === '' || !/^[0-9]{1,5}$/.test(port)) return undefined;
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
