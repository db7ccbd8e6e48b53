/** File layout of the local PKI inside certsDir, and careful writes (keys 0600, never overwritten). */
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const PKI_FILES = {
  caKey: 'ca.key',
  caCert: 'ca.crt',
  crl: 'crl.pem',
  index: 'pki-index.json',
  serverKey: 'server.key',
  serverCert: 'server.crt',
  uplinkKey: 'uplink.key',
  uplinkCsr: 'uplink.csr',
  uplinkCert: 'uplink.crt',
  clientsDir: 'clients',
} as const;

export const pkiPath = (certsDir: string, name: keyof typeof PKI_FILES) => join(certsDir, PKI_FILES[name]);
export const clientPath = (certsDir: string, name: string, ext: 'key' | 'csr' | 'crt' | 'p12' | 'p12.pass') =>
  join(certsDir, PKI_FILES.clientsDir, `${name}.${ext}`);

export class PkiError extends Error {
  override name = 'PkiError';
}

/** Writes a new file (fails if it exists); secrets get 0600. */
export function writeNew(file: string, data: string | Uint8Array, mode = 0o644): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(file, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new PkiError(`${file} already exists: refusing to overwrite it`);
    throw err;
  }
  try {
    if (typeof data === 'string') writeSync(fd, data);
    else writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(file, mode);
}

/** Replaces a public file (CRL, index) atomically. */
export function replaceFile(file: string, data: string, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

export function checkName(name: string, field = 'client name'): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name) || name.includes('..')) {
    throw new PkiError(`${field} "${name}": use 1–64 letters, digits, '.', '_' or '-'`);
  }
  return name;
}
