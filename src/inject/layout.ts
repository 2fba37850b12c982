/**
 * The names and paths that inject writes into pod specs, the agent image's layout and
 * the runtime directory's layout. One place, because three parties must agree on them:
 * `shadowplane inject` (on the owner's machine), the init container that installs the
 * runtime (`shadowplane inject install`, inside the pod) and the image builder
 * (scripts/build-images.ts).
 *
 * The runtime directory is self-contained, so it runs in images without Node or even a
 * libc (distroless, alpine, scratch):
 *
 *   bin/shadowplane          static launcher (no libc): execs lib/ld-linux-x86-64.so.2
 *                            --library-path lib lib/node app/dist/cli/main.mjs ARGS
 *   lib/                     node and the glibc/libstdc++ libraries it needs
 *   app/package.json         name, version, "type": "module"
 *   app/dist/cli/main.mjs    the bundled CLI
 *   app/node_modules/node-pty/   node-pty's JavaScript and its native pty.node
 *   app/kubeconfig-templates/    templates read by `verify`
 *   etc/agent.json           written by the install step only (the pinned configuration)
 *   etc/containers/NAME.json the same, for a container with settings of its own
 */

/** Where the agent image carries the runtime directory. */
export const IMAGE_RUNTIME_DIR = '/opt/shadowplane';
/** The launcher inside a runtime directory. */
export const LAUNCHER_RELATIVE = 'bin/shadowplane';

/** Memory-backed volume holding the copied runtime; mounted read-only into workloads. */
export const RUNTIME_VOLUME = 'shadowplane';
export const RUNTIME_MOUNT = '/shadowplane';
/** Memory-backed volume for the agents' log files and the pod's shared unix sockets. */
export const RUN_VOLUME = 'shadowplane-run';
export const RUN_MOUNT = '/run/shadowplane';
/** The agents' share directory (unix sockets between the pod's agents), inside RUN_MOUNT. */
export const SHARE_DIR = `${RUN_MOUNT}/share`;

/** The ConfigMap of vendor CRLs (`--crl-configmap`), mounted read-only where the agent reads them. */
export const CRL_VOLUME = 'shadowplane-crls';
export const CRL_MOUNT = '/run/shadowplane-crls';

/** The init container that copies the runtime and writes the agent configuration. */
export const INSTALL_CONTAINER = 'shadowplane-install';
/** The agent configuration, written by the install step. */
export const AGENT_CONFIG_RELATIVE = 'etc/agent.json';
export const AGENT_CONFIG_PATH = `${RUNTIME_MOUNT}/${AGENT_CONFIG_RELATIVE}`;
/**
 * The configurations of containers with settings of their own (`--agent-config`, a
 * container's `stdinOnce`), one full document each, named by the container (a DNS label).
 */
export const CONTAINER_CONFIG_DIR_RELATIVE = 'etc/containers';
export const containerConfigPath = (container: string): string => `${RUNTIME_MOUNT}/${CONTAINER_CONFIG_DIR_RELATIVE}/${container}.json`;
export const LAUNCHER_PATH = `${RUNTIME_MOUNT}/${LAUNCHER_RELATIVE}`;

/** Name of the agent port in the pod spec (informational, like every containerPort). */
export const AGENT_PORT_NAME = 'shadowplane';
export const DEFAULT_AGENT_PORT = 15443;

/** Size limits of the two memory-backed volumes (they count against the pod's memory). */
export const RUNTIME_VOLUME_SIZE = '256Mi';
export const RUN_VOLUME_SIZE = '128Mi';

/** The downward-API variables the agent reads (src/config/agent-config.ts). */
export const DOWNWARD_ENV = [
  { name: 'POD_NAME', fieldPath: 'metadata.name' },
  { name: 'POD_NAMESPACE', fieldPath: 'metadata.namespace' },
  { name: 'POD_IP', fieldPath: 'status.podIP' },
] as const;

/** The UID/GID the agent image runs as (the distroless "nonroot" convention). */
export const IMAGE_USER = 65532;
