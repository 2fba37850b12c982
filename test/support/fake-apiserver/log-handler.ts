/**
 * `GET pods/{name}/log`: PodLogOptions validated like the API server, lines selected by
 * the kubelet rules, answered as `text/plain` with headers flushed at once; with
 * `follow=true` every new line is written (and so flushed: a DATA frame on HTTP/2, a chunk
 * on HTTP/1.1) as it arrives, until the pod goes away, `limitBytes` is reached, the
 * client leaves or the server closes.
 */
import type { ApiCall } from './api-call.ts';
import { rfc3339Nano } from './age.ts';
import { isObject } from './json.ts';
import type { LogLine, LogStream } from './log-store.ts';
import { parseBool } from './request-info.ts';
import { drained, standardHeaders, startStream } from './respond.ts';
import { Errors } from './status.ts';

function invalid(field: string, message: string): Error {
  return Errors.invalid('PodLogOptions', '', [{ reason: 'FieldValueInvalid', message, field }]);
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw Errors.badRequest(`invalid ${name}`);
  return Number(v);
}

function containerNames(pod: Readonly<Record<string, unknown>>): string[] {
  const spec = isObject(pod['spec']) ? pod['spec'] : {};
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? (v as unknown[]) : []);
  const all = [...list(spec['containers']), ...list(spec['initContainers'])];
  return all.map((c) => (isObject(c) && typeof c['name'] === 'string' ? c['name'] : '')).filter((n) => n !== '');
}

export async function handleLogs(call: ApiCall): Promise<void> {
  const { namespace, name } = call.info;
  const q = call.query;
  const pod = call.cluster.store.get('pods', namespace, name);
  if (pod === undefined) throw Errors.notFound('pods', name);

  const names = containerNames(pod.object);
  let container = q.get('container') ?? '';
  if (container === '') {
    if (names.length !== 1) {
      throw Errors.badRequest(`a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`);
    }
    container = names[0] ?? '';
  }
  if (!names.includes(container)) throw Errors.badRequest(`container ${container} is not valid for pod ${name}`);

  const follow = parseBool(q.get('follow')) === true;
  const previous = parseBool(q.get('previous')) === true;
  const timestamps = parseBool(q.get('timestamps')) === true;
  const tailLines = intParam(q, 'tailLines');
  const limitBytes = intParam(q, 'limitBytes');
  const sinceSeconds = intParam(q, 'sinceSeconds');
  const sinceTime = q.get('sinceTime');
  const streamParam = q.get('stream');
  if (tailLines !== undefined && tailLines < 0) throw invalid('tailLines', 'Invalid value: must be greater than or equal to 0');
  if (limitBytes !== undefined && limitBytes < 1) throw invalid('limitBytes', 'Invalid value: must be greater than 0');
  if (sinceSeconds !== undefined && sinceSeconds < 1) throw invalid('sinceSeconds', 'Invalid value: must be greater than 0');
  if (sinceSeconds !== undefined && sinceTime !== null) throw invalid('sinceSeconds', 'Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified');
  let sinceMs: number | undefined;
  if (sinceSeconds !== undefined) sinceMs = call.cluster.now() - sinceSeconds * 1000;
  if (sinceTime !== null) {
    sinceMs = Date.parse(sinceTime);
    if (Number.isNaN(sinceMs)) throw Errors.badRequest('invalid sinceTime');
  }
  let stream: LogStream | undefined;
  if (streamParam !== null && streamParam !== 'All') {
    if (streamParam !== 'Stdout' && streamParam !== 'Stderr') throw invalid('stream', `Unsupported value: "${streamParam.slice(0, 16)}"`);
    stream = streamParam === 'Stdout' ? 'stdout' : 'stderr';
  }
  if (previous && !call.cluster.logs.hasPrevious(namespace, name, container)) {
    throw Errors.badRequest(`previous terminated container "${container}" in pod "${name}" not found`);
  }

  const res = call.res;
  startStream(res, 200, standardHeaders(call.auditId, 'text/plain'));
  let remaining = limitBytes ?? Number.POSITIVE_INFINITY;
  const format = (l: LogLine): string => (timestamps ? `${rfc3339Nano(l.timeMs, l.seq)} ${l.text}` : l.text);
  /** Writes one piece within limitBytes; returns false when the limit is reached. */
  const emit = async (text: string): Promise<boolean> => {
    let buf = Buffer.from(text, 'utf8');
    if (buf.length > remaining) buf = buf.subarray(0, remaining);
    remaining -= buf.length;
    if (buf.length > 0 && !res.write(buf)) await drained(res);
    return remaining > 0;
  };

  const selection = { ...(sinceMs === undefined ? {} : { sinceMs }), ...(tailLines === undefined ? {} : { tailLines }), ...(stream === undefined ? {} : { stream }) };
  const backlog = call.cluster.logs.select(namespace, name, container, previous, selection);
  // Subscribe before writing the backlog so no line appended meanwhile is lost.
  const queue: LogLine[] = [];
  let wake: (() => void) | null = null;
  let ended = !follow || previous;
  const end = (): void => {
    ended = true;
    wake?.();
  };
  const unfollow = ended
    ? () => undefined
    : call.cluster.logs.follow(namespace, name, container, (line) => {
        if (stream === undefined || line.stream === stream) queue.push(line);
        wake?.();
      });
  const unwatchPod = call.cluster.store.subscribe((e) => {
    if (e.type === 'DELETED' && e.resource === 'pods' && e.current.namespace === namespace && e.current.name === name) end();
  });
  call.signal.addEventListener('abort', end, { once: true });
  res.once('close', end);

  try {
    let open = true;
    for (const line of backlog) {
      if (!(open = await emit(format(line)))) break;
    }
    while (open && !ended) {
      while (queue.length > 0 && open) open = await emit(format(queue.shift() as LogLine));
      if (!open || ended) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = null;
    }
  } finally {
    unfollow();
    unwatchPod();
    call.signal.removeEventListener('abort', end);
    if (!res.writableEnded) res.end();
  }
}
