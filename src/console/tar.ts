/**
 * A minimal ustar writer (regular files in one folder), so that an audit export
 * downloads as one file that `tar xf` unpacks for `darwaza audit verify --offline`.
 */
const BLOCK = 512;

function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 8, 'ascii');
  h.write('0000000\0', 108, 8, 'ascii');
  h.write('0000000\0', 116, 8, 'ascii');
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'ascii');
  h.write(`${Math.floor(mtime / 1000).toString(8).padStart(11, '0')}\0`, 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** files: path inside the archive (≤ 100 bytes) → content. */
export function tarOf(files: Record<string, Uint8Array>, mtime = Date.now()): Buffer {
  const parts: Buffer[] = [];
  for (const [name, body] of Object.entries(files)) {
    if (Buffer.byteLength(name) > 100) throw new Error('tar: a file name is longer than 100 bytes');
    parts.push(header(name, body.length, mtime), Buffer.from(body));
    const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
