/**
 * Deterministic tar (POSIX ustar) for image layers: entries sorted by path, parents
 * before children, fixed mtime (0), uid/gid 0, no user or group names, modes as given.
 * Same entries in, same bytes out, on any machine.
 */
import { createHash } from 'node:crypto';

export type LayerEntry =
  | { readonly type: 'dir'; readonly path: string; readonly mode: number }
  | { readonly type: 'file'; readonly path: string; readonly mode: number; readonly data: Buffer }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string };

const BLOCK = 512;

function octal(value: number, width: number): string {
  const text = value.toString(8);
  if (text.length > width - 1) throw new Error(`tar: value ${value} does not fit ${width} bytes`);
  return `${text.padStart(width - 1, '0')}\0`;
}

/** Splits a path into ustar's prefix (155) and name (100) fields. */
function splitName(path: string): { prefix: string; name: string } {
  if (Buffer.byteLength(path) <= 100) return { prefix: '', name: path };
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== '/') continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return { prefix, name };
  }
  throw new Error(`tar: path too long for ustar: ${path}`);
}

function header(path: string, typeflag: string, mode: number, size: number, linkname = ''): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  const { prefix, name } = splitName(path);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode & 0o7777, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(typeflag, 156, 'ascii');
  if (Buffer.byteLength(linkname) > 100) throw new Error(`tar: link target too long: ${path}`);
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

function normalise(path: string): string {
  const p = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (p === '' || p.split('/').some((s) => s === '' || s === '.' || s === '..')) throw new Error(`tar: bad path ${path}`);
  return p;
}

/** Adds every missing parent directory (mode 0755) and sorts. Duplicate paths are an error. */
export function completeEntries(entries: readonly LayerEntry[]): LayerEntry[] {
  const byPath = new Map<string, LayerEntry>();
  for (const e of entries) {
    const path = normalise(e.path);
    if (byPath.has(path)) throw new Error(`tar: duplicate path ${path}`);
    byPath.set(path, { ...e, path });
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (!byPath.has(parent)) byPath.set(parent, { type: 'dir', path: parent, mode: 0o755 });
    }
  }
  // Sorted by the name as written in the tar (directories end in '/'), so that `x/` and
  // `x-y` come in the order every tar lister shows.
  const tarName = (e: LayerEntry): string => (e.type === 'dir' ? `${e.path}/` : e.path);
  return [...byPath.values()].sort((a, b) => (tarName(a) < tarName(b) ? -1 : tarName(a) > tarName(b) ? 1 : 0));
}

/** The tar stream of `entries` (completed and sorted). */
export function tarLayer(entries: readonly LayerEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of completeEntries(entries)) {
    if (e.type === 'dir') parts.push(header(`${e.path}/`, '5', e.mode, 0));
    else if (e.type === 'symlink') parts.push(header(e.path, '2', 0o777, 0, e.target));
    else {
      parts.push(header(e.path, '0', e.mode, e.data.length), e.data);
      const pad = (BLOCK - (e.data.length % BLOCK)) % BLOCK;
      if (pad > 0) parts.push(Buffer.alloc(pad, 0));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(parts);
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
