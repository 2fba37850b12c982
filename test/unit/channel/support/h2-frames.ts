/** Hand-written HTTP/2 frames, for channel tests whose peer must misbehave in ways node:http2 will not. */

/** One HTTP/2 frame: 9-byte header (length, type, flags, stream id) and the payload. */
export function h2Frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}
