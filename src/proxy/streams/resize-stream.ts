/**
 * Terminal sizes from a resize channel/stream, as an object-mode Readable of
 * TerminalSize.
 *
 * The byte source is always drained, whether or not anybody reads the sizes, so that a
 * slow consumer can never stall the connection that carries the resize channel. Only the
 * latest size matters for a terminal, so when the consumer is behind, older undelivered
 * sizes are replaced by newer ones.
 *
 * A malformed message ends the sizes (the kubelet likewise stops handling resizes after
 * a decode error) without ending the session; the source is still drained.
 */
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { asShadowplaneError } from '../../errors.ts';
import { TerminalSizeDecoder } from '../../kube-streams/resize.ts';
import type { TerminalSize } from './types.ts';

const BUFFERED_SIZES = 8;

export function terminalSizes(source: Readable, logger?: Logger): Readable {
  const decoder = new TerminalSizeDecoder();
  let latest: TerminalSize | null = null;
  let wanted = true;
  let ended = false;
  const sizes = new Readable({
    objectMode: true,
    highWaterMark: BUFFERED_SIZES,
    read() {
      wanted = true;
      if (latest !== null) {
        const size = latest;
        latest = null;
        wanted = sizes.push(size);
      }
    },
  });
  const deliver = (size: TerminalSize): void => {
    if (wanted) wanted = sizes.push(size);
    else latest = size;
  };
  source.on('data', (chunk: Buffer) => {
    if (ended || sizes.destroyed) return;
    try {
      for (const size of decoder.push(chunk)) deliver(size);
    } catch (err) {
      ended = true;
      logger?.info({ code: asShadowplaneError(err).code }, 'resize messages stopped after a malformed one');
      sizes.push(null);
    }
  });
  const finish = (): void => {
    if (ended || sizes.destroyed) return;
    ended = true;
    if (latest !== null) sizes.push(latest);
    sizes.push(null);
  };
  source.on('end', finish);
  source.on('error', finish);
  source.on('close', finish);
  return sizes;
}
