/**
 * The SPDY exec terminator against a hand-driven client over an in-memory socket pair:
 * what goes on the wire at the start and the end of a session, and every bounded wait.
 */
import { duplexPair, type Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isShadowplaneError } from '../../../src/errors.ts';
import { RstStatus, SpdyFrameDecoder, SpdyFrameEncoder, encodeDataFrame, type SpdyFrame } from '../../../src/kube-streams/spdy-frame.ts';
import type { RemoteCommandOptions } from '../../../src/proxy/streams/types.ts';
import { acceptRemoteCommand } from '../../../src/proxy/streams/upgrade.ts';

const tick = (ms = 20): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Client {
  readonly peer: Duplex;
  readonly head: Promise<string>;
  readonly frames: SpdyFrame[];
  readonly encoder: SpdyFrameEncoder;
  open(id: number, type: string): void;
}

function start(versions: string[], options: RemoteCommandOptions, streamTimeoutMs = 2000) {
  const [server, peer] = duplexPair();
  const frames: SpdyFrame[] = [];
  const decoder = new SpdyFrameDecoder((f) => frames.push(f.type === 'data' ? { ...f, data: Buffer.from(f.data) } : f));
  let buffered = Buffer.alloc(0);
  let resolveHead!: (head: string) => void;
  const head = new Promise<string>((resolve) => (resolveHead = resolve));
  let headDone = false;
  peer.on('data', (chunk: Buffer) => {
    if (headDone) return decoder.push(chunk);
    buffered = Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    headDone = true;
    const headText = buffered.toString('latin1', 0, end);
    resolveHead(headText);
    const rest = buffered.subarray(end + 4);
    // After a refusal the body is JSON, not SPDY.
    if (!headText.startsWith('HTTP/1.1 101')) peer.removeAllListeners('data').resume();
    else if (rest.length > 0) decoder.push(rest);
    return undefined;
  });
  const encoder = new SpdyFrameEncoder();
  const client: Client = {
    peer,
    head,
    frames,
    encoder,
    open: (id, type) => peer.write(encoder.synStream(id, [['streamtype', type]])),
  };
  const rawHeaders = ['Connection', 'Upgrade', 'Upgrade', 'SPDY/3.1', ...versions.flatMap((v) => ['X-Stream-Protocol-Version', v])];
  const session = acceptRemoteCommand(
    { method: 'POST', url: '/api/v1/namespaces/default/pods/p1/exec', headers: { upgrade: 'SPDY/3.1', connection: 'Upgrade' }, rawHeaders },
    server,
    Buffer.alloc(0),
    options,
    { streamTimeoutMs, closeGraceMs: 200 },
  );
  return { client, session, server };
}

const dataOn = (frames: readonly SpdyFrame[], id: number): string =>
  Buffer.concat(frames.filter((f): f is Extract<SpdyFrame, { type: 'data' }> => f.type === 'data' && f.streamId === id).map((f) => f.data)).toString();

describe('SPDY exec session', () => {
  it('answers 101 with the chosen version and replies to each stream', async () => {
    const { client, session } = start(['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io'], { stdin: false, stdout: true, stderr: true, tty: false });
    expect((await client.head).split('\r\n')).toEqual(['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', 'Upgrade: SPDY/3.1', 'X-Stream-Protocol-Version: v4.channel.k8s.io']);
    client.open(1, 'error');
    client.open(3, 'stdout');
    client.open(5, 'stderr');
    const s = await session;
    expect(s.protocol).toBe('spdy/v4.channel.k8s.io');
    expect(client.frames.map((f) => f.type)).toEqual(['syn_reply', 'syn_reply', 'syn_reply']);
    await s.finish({ kind: 'exit', code: 0 });
  });

  it('ends in the order kubectl needs: stdout/stderr FIN, Status + FIN on the error stream, then GOAWAY', async () => {
    const { client, session } = start(['v4.channel.k8s.io'], { stdin: true, stdout: true, stderr: true, tty: false });
    await client.head;
    ['error', 'stdin', 'stdout', 'stderr'].forEach((type, i) => client.open(1 + 2 * i, type));
    const s = await session;
    client.peer.write(encodeDataFrame(3, Buffer.from('input'), true));
    const chunks: Buffer[] = [];
    for await (const chunk of s.stdin!) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('input');
    s.stdout!.write('out');
    s.stderr!.write('err');
    await s.finish({ kind: 'exit', code: 3 });
    await tick();
    const tail = client.frames.filter((f) => f.type !== 'syn_reply').map((f) => (f.type === 'data' ? `data ${f.streamId}${f.fin ? ' fin' : ''}` : f.type));
    expect(tail).toEqual(['data 5', 'data 7', 'data 5 fin', 'data 7 fin', 'data 1', 'data 1 fin', 'goaway']);
    expect(dataOn(client.frames, 5)).toBe('out');
    expect(JSON.parse(dataOn(client.frames, 1))).toMatchObject({ reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
    expect(s.counters).toEqual({ bytesIn: 5, bytesOut: 6 });
  });

  it('speaks plain text on the error stream of v2, and v1 semantics without a version header', async () => {
    const v2 = start(['v2.channel.k8s.io'], { stdin: false, stdout: true, stderr: false, tty: false });
    expect(await v2.client.head).toContain('X-Stream-Protocol-Version: v2.channel.k8s.io');
    v2.client.open(1, 'error');
    v2.client.open(3, 'stdout');
    await (await v2.session).finish({ kind: 'exit', code: 9 });
    await tick();
    expect(dataOn(v2.client.frames, 1)).toBe('command terminated with non-zero exit code: 9');

    const v1 = start([], { stdin: false, stdout: true, stderr: false, tty: false });
    expect(await v1.client.head).not.toContain('X-Stream-Protocol-Version');
    v1.client.open(1, 'error');
    v1.client.open(3, 'stdout');
    expect((await v1.session).protocol).toBe('spdy/channel.k8s.io');
  });

  it('refuses unexpected and duplicate stream types with REFUSED_STREAM', async () => {
    const { client, session } = start(['v4.channel.k8s.io'], { stdin: false, stdout: true, stderr: false, tty: false });
    await client.head;
    client.open(1, 'error');
    client.open(3, 'error');
    client.open(5, 'bogus');
    client.open(7, 'stdout');
    const s = await session;
    await tick();
    expect(client.frames.filter((f) => f.type === 'rst_stream')).toEqual([
      { type: 'rst_stream', streamId: 3, status: RstStatus.REFUSED_STREAM },
      { type: 'rst_stream', streamId: 5, status: RstStatus.REFUSED_STREAM },
    ]);
    await s.finish({ kind: 'exit', code: 0 });
  });

  it('times out a client that never opens its streams, saying so on the error stream', async () => {
    const { client, session } = start(['v4.channel.k8s.io'], { stdin: true, stdout: true, stderr: false, tty: false }, 150);
    await client.head;
    client.open(1, 'error');
    await expect(session).rejects.toSatisfy((e) => isShadowplaneError(e, 'SP_SESSION_TIMEOUT'));
    await tick(100);
    expect(JSON.parse(dataOn(client.frames, 1))).toMatchObject({ status: 'Failure', details: { causes: [{ reason: 'SP_SESSION_TIMEOUT' }] } });
    expect(client.frames.at(-1)?.type).toBe('goaway');
  });

  it('rejects with SP_CLIENT_GONE when the client vanishes before its streams are open', async () => {
    const { client, session, server } = start(['v4.channel.k8s.io'], { stdin: false, stdout: true, stderr: false, tty: false });
    await client.head;
    server.destroy();
    await expect(session).rejects.toSatisfy((e) => isShadowplaneError(e, 'SP_CLIENT_GONE'));
  });

  it('aborts the session when the client vanishes mid-session', async () => {
    const { client, session, server } = start(['v4.channel.k8s.io'], { stdin: false, stdout: true, stderr: false, tty: false });
    await client.head;
    client.open(1, 'error');
    client.open(3, 'stdout');
    const s = await session;
    expect(s.aborted.aborted).toBe(false);
    server.destroy();
    await tick();
    expect(s.aborted.aborted).toBe(true);
    expect(isShadowplaneError(s.aborted.reason, 'SP_CLIENT_GONE')).toBe(true);
    await s.finish({ kind: 'exit', code: 0 });
  });

  it('refuses a client that offers no supported version before upgrading', async () => {
    const { client, session } = start(['v5.channel.k8s.io'], { stdin: false, stdout: true, stderr: false, tty: false });
    await expect(session).rejects.toSatisfy((e) => isShadowplaneError(e, 'SP_STREAM_PROTOCOL_UNSUPPORTED'));
    expect((await client.head).split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
  });
});
