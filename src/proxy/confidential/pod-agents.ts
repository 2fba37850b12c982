/**
 * An attested session with a confidential pod's agent, by pod name: the address comes
 * from the pod directory (untrusted, address only), the session from the agent pool
 * (which proves by attestation that the agent is exactly that pod's). A cached address
 * that fails is looked up afresh once.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { AgentConnection } from '../../channel/agent-client.ts';
import type { AgentPool } from '../../channel/agent-pool.ts';
import { ShadowplaneError, isShadowplaneError } from '../../errors.ts';
import type { PodDirectory } from './pod-directory.ts';

export class PodAgents {
  readonly #pool: AgentPool;
  readonly #pods: PodDirectory;
  readonly #port: number;

  constructor(opts: { readonly pool: AgentPool; readonly pods: PodDirectory; readonly agentPort: number }) {
    this.#pool = opts.pool;
    this.#pods = opts.pods;
    this.#port = opts.agentPort;
  }

  get pods(): PodDirectory {
    return this.#pods;
  }

  /**
   * The pod's agent. `callerAuth` authenticates the address lookup when the proxy has no
   * upstream credential of its own; `knownAddress` skips the lookup (a LIST just gave it).
   */
  async connect(namespace: string, pod: string, callerAuth: OutgoingHttpHeaders, knownAddress?: string): Promise<AgentConnection> {
    const identity = { namespace, pod };
    const port = this.#port;
    const address = knownAddress ?? (await this.#pods.lookup(namespace, pod, callerAuth));
    try {
      try {
        return await this.#pool.connect({ address, port, identity });
      } catch (err) {
        if (!isShadowplaneError(err, 'SP_AGENT_UNREACHABLE') && !isShadowplaneError(err, 'SP_AGENT_IDENTITY_MISMATCH')) throw err;
        const fresh = await this.#pods.lookup(namespace, pod, callerAuth, true);
        if (fresh === address) throw err;
        return await this.#pool.connect({ address: fresh, port, identity });
      }
    } catch (err) {
      if (isShadowplaneError(err, 'SP_AGENT_UNREACHABLE') && !(await this.#anyContainerRunning(namespace, pod, callerAuth))) {
        // The agent runs inside the workload's container and ends with it: nothing is left
        // to answer for a crashed or completed container (docs/agent.md, Logs).
        throw new ShadowplaneError(
          'SP_CONTAINER_NOT_RUNNING',
          'no container of the pod is running, and its agent ends with it: the logs of a crashed container are served by its next run (kubectl logs --previous); those of a completed pod are not kept outside its TEE',
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** False only when the API server says no container of the pod runs; any doubt is true (the caller keeps its own error). */
  async #anyContainerRunning(namespace: string, pod: string, callerAuth: OutgoingHttpHeaders): Promise<boolean> {
    try {
      return await this.#pods.anyContainerRunning(namespace, pod, callerAuth);
    } catch {
      return true;
    }
  }
}
