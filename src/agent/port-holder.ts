/**
 * Holds the pod's agent port, or waits for it. In a pod with several agents the first
 * to bind it serves the pod; the others retry every `retryMs` and one of them takes the
 * port over when the holder's container stops (its socket closes, the bind succeeds).
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';
import type { AgentListener } from '../channel/agent-listener.ts';

export interface PortHolderOptions {
  readonly host: string;
  readonly port: number;
  /** Default 500. */
  readonly retryMs?: number;
  readonly logger: Logger;
  /** Called each time this agent starts holding the port. */
  readonly onHolding?: (address: AddressInfo) => void;
}

export class PortHolder {
  readonly #listener: AgentListener;
  readonly #options: PortHolderOptions;
  #timer: NodeJS.Timeout | null = null;
  #address: AddressInfo | null = null;
  #stopped = false;
  #lastCode: string | undefined;

  constructor(listener: AgentListener, options: PortHolderOptions) {
    this.#listener = listener;
    this.#options = options;
  }

  /** The bound address while this agent holds the port. */
  get address(): AddressInfo | null {
    return this.#address;
  }

  start(): void {
    void this.#attempt();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#address !== null) await this.#listener.close();
    this.#address = null;
  }

  async #attempt(): Promise<void> {
    if (this.#stopped) return;
    const { host, port, logger } = this.#options;
    try {
      this.#address = await this.#listener.listen(host, port);
      if (this.#stopped) {
        await this.#listener.close();
        return;
      }
      logger.info({ address: this.#address.address, port: this.#address.port }, 'agent port held; serving the pod');
      this.#options.onHolding?.(this.#address);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
      // EADDRINUSE: another agent of the pod holds it. Log each new reason once.
      if (code !== this.#lastCode) logger.info({ code }, 'agent port not available; retrying');
      this.#lastCode = code;
      this.#timer = setTimeout(() => void this.#attempt(), this.#options.retryMs ?? 500);
      this.#timer.unref();
    }
  }
}
