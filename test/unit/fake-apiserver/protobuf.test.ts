import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isShadowplaneError } from '../../../src/errors.ts';
import { encodeList, encodeObject, encodeWatchFrame, ProtoWriter } from '../../support/fake-apiserver/protobuf.ts';
import { decodeProtobufObject, readFields } from '../../support/fake-apiserver/protobuf-decode.ts';

const pod = {
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: { name: 'p1', namespace: 'ns', uid: 'u-1', resourceVersion: '42', labels: { b: '2', a: '1' }, creationTimestamp: '2025-01-01T00:00:00Z' },
  spec: { containers: [{ name: 'c1', image: 'nginx:1', command: ['sh', '-c', 'true'], stdin: true }], restartPolicy: 'Always', nodeName: 'n1' },
  status: { phase: 'Running', podIP: '127.0.1.5', containerStatuses: [{ name: 'c1', ready: true, restartCount: 2, image: 'nginx:1' }] },
};

describe('protobuf encoding', () => {
  it('round-trips the modelled Pod fields through the k8s envelope', () => {
    const bytes = encodeObject(pod);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('k8s\0');
    const back = decodeProtobufObject(bytes);
    expect(back.metadata).toEqual({ name: 'p1', namespace: 'ns', uid: 'u-1', resourceVersion: '42', labels: { a: '1', b: '2' } });
    expect(back['spec']).toEqual({ containers: [{ name: 'c1', image: 'nginx:1', command: ['sh', '-c', 'true'], stdin: true }], restartPolicy: 'Always', nodeName: 'n1' });
  });

  it('writes map entries sorted by key and scalar strings even when empty, like gogo marshalers', () => {
    const meta = readFields(readFields(readFields(encodeObject(pod).subarray(4)).find((f) => f.field === 2)?.value as Buffer).find((f) => f.field === 1)?.value as Buffer);
    const labelKeys = meta.filter((f) => f.field === 11).map((f) => readFields(f.value as Buffer)[0]?.value.toString());
    expect(labelKeys).toEqual(['a', 'b']);
    expect(meta.find((f) => f.field === 2)?.value).toEqual(Buffer.alloc(0));
  });

  it('encodes lists and length-prefixed watch frames', () => {
    const list = encodeList('Namespace', 'v1', { resourceVersion: '7' }, [{ kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'a' } }]);
    const unknown = readFields(list.subarray(4));
    const typeMeta = readFields(unknown.find((f) => f.field === 1)?.value as Buffer);
    expect(typeMeta.map((f) => f.value.toString())).toEqual(['v1', 'NamespaceList']);
    const frame = encodeWatchFrame('ADDED', pod);
    expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
    const event = readFields(frame.subarray(4));
    expect(event[0]?.value.toString()).toBe('ADDED');
  });

  it('writes varints for negative and large numbers as 64-bit two’s complement', () => {
    expect(ProtoWriter.varint(-1).length).toBe(10);
    expect(ProtoWriter.varint(300)).toEqual(Buffer.from([0xac, 0x02]));
  });
});

describe('protobuf decoding of untrusted bodies', () => {
  it('refuses bodies without the envelope, with bad lengths or unsupported kinds as SP_BAD_REQUEST', () => {
    const cases = [
      Buffer.from('{"kind":"Pod"}'),
      Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from([0x0a, 0xff, 0x01])]),
      Buffer.concat([Buffer.from('k8s\0', 'latin1'), new ProtoWriter().message(1, (t) => t.string(1, 'v1').string(2, 'Secret')).finish()]),
    ];
    for (const body of cases) {
      try {
        decodeProtobufObject(body);
        expect.unreachable();
      } catch (err) {
        expect(isShadowplaneError(err, 'SP_BAD_REQUEST')).toBe(true);
      }
    }
  });

  it('never throws anything but SP_BAD_REQUEST on random or mutated input', () => {
    const valid = encodeObject(pod);
    for (let i = 0; i < 2000; i++) {
      const body = i % 2 === 0 ? Buffer.concat([valid.subarray(0, 4), randomBytes(i % 300)]) : Buffer.from(valid);
      if (i % 2 === 1) {
        for (let k = 0; k < 3; k++) {
          const at = 4 + ((i * 7 + k * 13) % (body.length - 4));
          body[at] = (body[at] ?? 0) ^ 0xff;
        }
      }
      try {
        decodeProtobufObject(body);
      } catch (err) {
        expect(isShadowplaneError(err, 'SP_BAD_REQUEST')).toBe(true);
      }
    }
  });
});
