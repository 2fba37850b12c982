/**
 * The agent's own Node must not run anybody's code but the agent's, nor open a debugger
 * or dump its heap: it holds the agent's attested key and every stream of the pod. The
 * injected runtime's launcher moves the container's NODE_OPTIONS aside for the workload;
 * an agent started another way (the npm package with one's own Node, a hand-made image)
 * checks here, before anything else, and refuses to run when its Node was started with
 * options that would do any of that, whether on the command line or in NODE_OPTIONS.
 *
 * Invariant: the refusal names the options, never their values (paths, addresses).
 */
import { close as closeInspector, url as inspectorUrl } from 'node:inspector';
import { ShadowplaneError } from '../errors.ts';

/** Options (and their prefixes) that load code, open the inspector, or write the heap out. */
const REFUSED = [
  '--inspect',
  '--debug',
  '--require',
  '-r',
  '--import',
  '--loader',
  '--experimental-loader',
  '--openssl-config',
  '--heapsnapshot',
];

/** The refused option names among `args` (`--name`, `--name=value` or `-r value`), in order, once each. */
export function refusedNodeOptions(args: readonly string[]): string[] {
  const found: string[] = [];
  for (const arg of args) {
    const name = arg.split('=', 1)[0]!;
    const refused = REFUSED.find((r) => name === r || (r.startsWith('--') && name.startsWith(`${r}-`)));
    if (refused !== undefined && !found.includes(name)) found.push(name);
  }
  return found;
}

/** NODE_OPTIONS split as Node splits it: on blanks, with double quotes grouping. */
export function splitNodeOptions(value: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(value); m !== null; m = re.exec(value)) out.push(m[1] ?? m[2]!);
  return out;
}

/**
 * Throws SP_CONFIG_INVALID when the agent's Node was started with a refused option
 * (closing the inspector first, should one be open already).
 */
export function refuseCodeLoadingNodeOptions(execArgv: readonly string[], nodeOptions: string | undefined): void {
  const found = refusedNodeOptions([...execArgv, ...splitNodeOptions(nodeOptions ?? '')]);
  if (found.length === 0) return;
  if (inspectorUrl() !== undefined) closeInspector();
  throw new ShadowplaneError(
    'SP_CONFIG_INVALID',
    `the agent's Node was started with ${found.join(', ')}, which would load code into the agent, open a debugger on it or write out its memory: ` +
      'start it through the injected runtime (whose launcher hands NODE_OPTIONS to the workload only), or give the workload its options as ' +
      'SHADOWPLANE_WORKLOAD_NODE_OPTIONS (the agent passes them on to the workload as NODE_OPTIONS)',
  );
}
