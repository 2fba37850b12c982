/**
 * A side's own RA-TLS credentials for the channel, renewed before they expire.
 *
 * The certificate (and its evidence) is made at start and again at half its lifetime;
 * new connections use the newest, existing ones keep theirs. Renewal failures are logged
 * and retried; the old certificate stays in use until it expires.
 */
import { createAttestedCredentials, type EvidenceIssuer } from '../attestation/index.ts';
import type { Logger } from '../log.ts';
import type { ChannelCredentials } from './trust.ts';

export interface RenewingCredentials {
  current(): ChannelCredentials;
  /** Called with every renewed credential (the agent hands it to its listener). */
  onRenew(listener: (credentials: ChannelCredentials) => void): void;
  stop(): void;
}

export async function startRenewingCredentials(opts: {
  readonly issuer: EvidenceIssuer;
  readonly claims: Readonly<Record<string, string>>;
  readonly validityMs: number;
  readonly subjectAltNames?: readonly string[];
  readonly logger: Logger;
}): Promise<RenewingCredentials> {
  const make = async (): Promise<ChannelCredentials> => {
    const c = await createAttestedCredentials({
      issuer: opts.issuer,
      claims: opts.claims,
      validity: opts.validityMs,
      ...(opts.subjectAltNames === undefined ? {} : { subjectAltNames: opts.subjectAltNames }),
    });
    opts.logger.info({ platform: c.evidence.platform, spkiSha256: c.spkiSha256, notAfter: c.notAfter.toISOString() }, 'channel certificate issued');
    return { key: c.keyPem, cert: c.certPem };
  };
  let current = await make();
  const listeners: ((c: ChannelCredentials) => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (delayMs: number): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      make().then(
        (c) => {
          current = c;
          for (const l of listeners) l(c);
          schedule(opts.validityMs / 2);
        },
        () => {
          opts.logger.warn({ code: 'SP_ATTEST_UNAVAILABLE' }, 'channel certificate renewal failed; retrying in 60 s');
          schedule(60_000);
        },
      );
    }, delayMs);
    timer.unref();
  };
  schedule(opts.validityMs / 2);
  return {
    current: () => current,
    onRenew: (l) => void listeners.push(l),
    stop: () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
