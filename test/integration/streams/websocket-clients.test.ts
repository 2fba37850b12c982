/**
 * The WebSocket protocols kubectl does not use but other clients do: exec over v4,
 * v4.base64, channel.k8s.io and base64.channel.k8s.io (and no subprotocol at all), and the
 * legacy `?ports=` port-forward, driven by @kubernetes/client-node and by `ws` directly.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { Exec, KubeConfig, PortForward, type V1Status } from '@kubernetes/client-node';

type WebSocketInterface = NonNullable<ConstructorParameters<typeof Exec>[1]>;
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStreamTestServer, type StreamTestServer } from '../../support/stream-test-server.ts';

let server: StreamTestServer;
let kc: KubeConfig;
let echo: Server;
let echoPort: number;

function collector(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

function withTimeout<T>(promise: Promise<T>, ms = 10_000): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms))]);
}

interface ChannelMessage {
  readonly channel: number;
  readonly payload: Buffer;
}

/** A raw WebSocket client that decodes channel messages for `base64` or binary framing. */
function openRaw(path: string, protocols: string[], base64: boolean): Promise<{ ws: WebSocket; messages: ChannelMessage[]; closed: Promise<number>; send: (ch: number, data: Buffer) => void }> {
  const ws = new WebSocket(`${server.url.replace('https', 'wss')}${path}`, protocols, {
    ca: server.caPem,
    headers: { Authorization: `Bearer ${server.token}` },
  });
  const messages: ChannelMessage[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (base64) {
      expect(isBinary).toBe(false);
      messages.push({ channel: data[0]! - 0x30, payload: Buffer.from(data.toString('latin1', 1), 'base64') });
    } else {
      expect(isBinary).toBe(true);
      messages.push({ channel: data[0]!, payload: data.subarray(1) });
    }
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  const send = (ch: number, data: Buffer): void => {
    if (base64) ws.send(String.fromCharCode(0x30 + ch) + data.toString('base64'));
    else ws.send(Buffer.concat([Buffer.from([ch]), data]));
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages, closed, send }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function channelText(messages: readonly ChannelMessage[], channel: number): string {
  return Buffer.concat(messages.filter((m) => m.channel === channel).map((m) => m.payload)).toString('utf8');
}

beforeAll(async () => {
  server = await startStreamTestServer();
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: server.url, caData: Buffer.from(server.caPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'u', token: server.token }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u', namespace: 'default' }],
    currentContext: 'x',
  });
  echo = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as AddressInfo).port;
});

afterAll(async () => {
  await server.close();
  await new Promise((resolve) => echo.close(resolve));
});

describe('@kubernetes/client-node Exec', () => {
  it('negotiates v5 and reports a non-zero exit code in the Status', async () => {
    const out = collector();
    const err = collector();
    const status = await withTimeout(
      new Promise<V1Status>((resolve) => {
        void new Exec(kc).exec('default', 'p1', 'c1', ['sh', '-c', 'printf out; printf err >&2; exit 7'], out.stream, err.stream, null, false, resolve);
      }),
    );
    expect(status).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '7' }] } });
    expect(out.text()).toBe('out');
    expect(err.text()).toBe('err');
    expect(server.sessions.at(-1)?.protocol).toBe('v5.channel.k8s.io');
  });

  it('ends stdin with the v5 close signal, so cat sees EOF and the output still arrives', async () => {
    const out = collector();
    const stdin = new PassThrough();
    const status = await withTimeout(
      new Promise<V1Status>((resolve) => {
        void new Exec(kc).exec('default', 'p1', 'c1', ['cat'], out.stream, null, stdin, false, resolve).then(() => stdin.end('over v5\n'));
      }),
    );
    expect(status).toEqual({ metadata: {}, status: 'Success' });
    expect(out.text()).toBe('over v5\n');
  });

  it('speaks v4.channel.k8s.io when that is all the client offers', async () => {
    // client-node's own handler always offers v5 first; this one offers only v4 and
    // dispatches binary messages the same way.
    const handler: WebSocketInterface = {
      connect: (path, _text, binary) =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(`${server.url.replace('https', 'wss')}${path}`, ['v4.channel.k8s.io'], {
            ca: server.caPem,
            headers: { Authorization: `Bearer ${server.token}` },
          });
          ws.on('message', (data: Buffer) => {
            if (binary && !binary(data[0]!, data.subarray(1))) ws.close();
          });
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    };
    const out = collector();
    const status = await withTimeout(
      new Promise<V1Status>((resolve) => {
        void new Exec(kc, handler).exec('default', 'p1', 'c1', ['sh', '-c', 'echo v4; exit 2'], out.stream, null, null, false, resolve);
      }),
    );
    expect(status).toMatchObject({ status: 'Failure', details: { causes: [{ reason: 'ExitCode', message: '2' }] } });
    expect(out.text()).toBe('v4\n');
    expect(server.sessions.at(-1)?.protocol).toBe('v4.channel.k8s.io');
  });
});

describe('exec over the legacy WebSocket protocols', () => {
  const path = (command: string[], stdin: boolean): string =>
    `/api/v1/namespaces/default/pods/p1/exec?${new URLSearchParams([...command.map((c): [string, string] => ['command', c]), ['stdout', 'true'], ['stderr', 'true'], ['stdin', String(stdin)]]).toString()}`;

  it('v4.base64.channel.k8s.io: text frames, base64 payloads, Status JSON on channel 3, close 1000', async () => {
    const raw = await openRaw(path(['sh', '-c', 'head -c 5; echo; exit 4'], true), ['v4.base64.channel.k8s.io'], true);
    expect(raw.ws.protocol).toBe('v4.base64.channel.k8s.io');
    raw.send(0, Buffer.from('hello'));
    expect(await withTimeout(raw.closed)).toBe(1000);
    expect(raw.messages[0]).toEqual({ channel: 1, payload: Buffer.alloc(0) });
    expect(channelText(raw.messages, 1)).toBe('hello\n');
    expect(JSON.parse(channelText(raw.messages, 3))).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '4' }] } });
  });

  it('v4.channel.k8s.io: binary frames with Status JSON on success', async () => {
    const raw = await openRaw(path(['sh', '-c', 'echo ok'], false), ['v4.channel.k8s.io'], false);
    expect(await withTimeout(raw.closed)).toBe(1000);
    expect(channelText(raw.messages, 1)).toBe('ok\n');
    expect(JSON.parse(channelText(raw.messages, 3))).toEqual({ metadata: {}, status: 'Success' });
  });

  for (const [protocol, base64] of [['channel.k8s.io', false], ['base64.channel.k8s.io', true]] as const) {
    it(`${protocol}: plain-text error channel, silent on success`, async () => {
      const failing = await openRaw(path(['sh', '-c', 'exit 3'], false), [protocol], base64);
      expect(await withTimeout(failing.closed)).toBe(1000);
      expect(channelText(failing.messages, 3)).toBe('command terminated with non-zero exit code: 3');
      const ok = await openRaw(path(['true'], false), [protocol], base64);
      expect(await withTimeout(ok.closed)).toBe(1000);
      expect(ok.messages.filter((m) => m.channel === 3)).toEqual([]);
    });
  }

  it('serves a client that offers no subprotocol with binary channel framing', async () => {
    const raw = await openRaw(path(['echo', 'bare'], false), [], false);
    expect(raw.ws.protocol).toBe('');
    expect(await withTimeout(raw.closed)).toBe(1000);
    expect(channelText(raw.messages, 1)).toBe('bare\n');
  });

  it('refuses a client whose subprotocols are all unsupported with a Status', async () => {
    await expect(openRaw(path(['true'], false), ['v3.channel.k8s.io'], false)).rejects.toThrow('HTTP 400');
  });
});

describe('legacy WebSocket port-forward (?ports=)', () => {
  it('forwards through @kubernetes/client-node PortForward', async () => {
    const out = collector();
    const errs = collector();
    const input = new PassThrough();
    const ws = await withTimeout(new PortForward(kc).portForward('default', 'p1', [echoPort], out.stream, errs.stream, input));
    input.write('ping over legacy\n');
    const deadline = Date.now() + 5000;
    while (!out.text().includes('ping over legacy') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(out.text()).toBe('ping over legacy\n');
    expect(errs.text()).toBe('');
    expect(server.sessions.at(-1)?.protocol).toBe('websocket/portforward.k8s.io');
    (ws as WebSocket).close();
  });

  it('sends the port first on both channels, then data; errors go to the odd channel', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));

    const raw = await openRaw(`/api/v1/namespaces/default/pods/p1/portforward?ports=${echoPort},${closedPort}`, ['v4.base64.channel.k8s.io'], true);
    raw.send(0, Buffer.from('abc'));
    const deadline = Date.now() + 5000;
    while ((channelText(raw.messages, 0).length < 5 || raw.messages.filter((m) => m.channel === 3).length < 2) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const le = (port: number): Buffer => Buffer.from([port & 0xff, port >> 8]);
    for (const [channel, port] of [[0, echoPort], [1, echoPort], [2, closedPort], [3, closedPort]] as const) {
      expect(raw.messages.find((m) => m.channel === channel)?.payload).toEqual(le(port));
    }
    expect(Buffer.concat(raw.messages.filter((m) => m.channel === 0).map((m) => m.payload)).subarray(2).toString()).toBe('abc');
    expect(Buffer.concat(raw.messages.filter((m) => m.channel === 3).map((m) => m.payload)).subarray(2).toString()).toBe(`nothing listens on port ${closedPort}`);
    raw.ws.close();
    await withTimeout(raw.closed);
  });

  it('closes the WebSocket with 1000 once the target closed its connection', async () => {
    const banner = createServer((socket) => socket.end('hi'));
    await new Promise<void>((resolve) => banner.listen(0, '127.0.0.1', resolve));
    try {
      const port = (banner.address() as AddressInfo).port;
      const raw = await openRaw(`/api/v1/namespaces/default/pods/p1/portforward?ports=${port}`, ['v4.channel.k8s.io'], false);
      expect(await withTimeout(raw.closed)).toBe(1000);
      expect(Buffer.concat(raw.messages.filter((m) => m.channel === 0).map((m) => m.payload)).subarray(2).toString()).toBe('hi');
    } finally {
      await new Promise((resolve) => banner.close(resolve));
    }
  });

  it('refuses a legacy request without ports before upgrading', async () => {
    await expect(openRaw('/api/v1/namespaces/default/pods/p1/portforward', ['v4.channel.k8s.io'], false)).rejects.toThrow('HTTP 400');
  });
});
