/**
 * The agent's own Node must not run anybody's code but the agent's, nor open a debugger
 * or write its memory out: it holds the agent's attested key and every stream of the pod.
 * The injected runtime's launcher moves the container's NODE_OPTIONS aside for the
 * workload; an agent started another way (the npm package with one's own Node, a
 * hand-made image) checks here, before anything else, and refuses to run when its Node
 * was started with such options, on the command line or in NODE_OPTIONS, or has its
 * inspector open.
 *
 * What this is and is not: a guard against a mistaken configuration (a workload's
 * `--require` or `--inspect` reaching the agent). It cannot stop code that an option
 * already loaded, since that ran before the agent did; the pod's policy, which pins the
 * container's environment, is what keeps others from choosing these options.
 *
 * Invariant: the refusal names the options, never their values (paths, addresses).
 */
import { close as closeInspector, url as inspectorUrl } from 'node:inspector';
import { ShadowplaneError } from '../errors.ts';

/** Options that load code, open the inspector, or write memory or the environment out. */
const REFUSED = new Set([
  '--inspect',
  '--inspect-brk',
  '--inspect-wait',
  '--debug',
  '--debug-brk',
  '-r',
  '--require',
  '--import',
  '--loader',
  '--experimental-loader',
  '--openssl-config',
  '--openssl-shared-config',
  '--snapshot-blob',
  '--heapsnapshot-signal',
  '--heapsnapshot-near-heap-limit',
  '--abort-on-uncaught-exception',
  '--report-on-signal',
  '--report-uncaught-exception',
  '--report-on-fatalerror',
]);

/** The refused option names among `args` (`--name`, `--name=value` or `-r value`), in order, once each. */
export function refusedNodeOptions(args: readonly string[]): string[] {
  const found: string[] = [];
  for (const arg of args) {
    // Node takes `_` for `-` in option names.
    const name = arg.split('=', 1)[0]!.replaceAll('_', '-');
    if (REFUSED.has(name) && !found.includes(name)) found.push(name);
  }
  return found;
}

/**
 * NODE_OPTIONS split as Node splits it (src/node_options.cc): words separated by spaces
 * outside double quotes; a quote anywhere toggles quoting and is removed; inside quotes a
 * backslash takes the next character as it is.
 */
export function splitNodeOptions(value: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    let c = value[i]!;
    if (c === '\\' && quoted && i + 1 < value.length) {
      c = value[++i]!;
    } else if (c === '"') {
      quoted = !quoted;
      word ??= '';
      continue;
    } else if (c === ' ' && !quoted) {
      if (word !== undefined) out.push(word);
      word = undefined;
      continue;
    }
    word = (word ?? '') + c;
  }
  if (word !== undefined) out.push(word);
  return out;
}

/**
 * Throws SP_CONFIG_INVALID when the agent's Node was started with a refused option, or
 * has its inspector open (closing it first).
 */
export function refuseCodeLoadingNodeOptions(execArgv: readonly string[], nodeOptions: string | undefined): void {
  const found = refusedNodeOptions([...execArgv, ...splitNodeOptions(nodeOptions ?? '')]);
  const inspecting = inspectorUrl() !== undefined;
  if (found.length === 0 && !inspecting) return;
  if (inspecting) closeInspector();
  const what = found.length > 0 ? found.join(', ') : 'its inspector open';
  throw new ShadowplaneError(
    'SP_CONFIG_INVALID',
    `the agent's Node was started with ${what}, which would load code into the agent, open a debugger on it or write out its memory: ` +
      'start it through the injected runtime (whose launcher hands NODE_OPTIONS to the workload only), or give the workload its options as ' +
      'SHADOWPLANE_WORKLOAD_NODE_OPTIONS (the agent passes them on to the workload as NODE_OPTIONS)',
  );
}
