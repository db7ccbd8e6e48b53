/**
 * Small, careful file I/O for key material: directories 0700, files 0600, exclusive
 * creation (a key file is never overwritten), and a refusal — with the fix in the
 * message — when a secret file is readable by group or others.
 */
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { KeyFileError } from './errors.js';
import { fromB64 } from './encoding.js';

export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (!st.isDirectory()) throw new KeyFileError(`${dir} is not a directory`);
  if ((st.mode & 0o077) !== 0) {
    try {
      chmodSync(dir, 0o700);
    } catch {
      throw new KeyFileError(`key directory ${dir} is accessible to other users and cannot be tightened: run chmod 700 ${dir}`);
    }
  }
}

/** Refuses a secret file that group or others may read or write. */
export function assertPrivateFile(file: string): void {
  const st = statSync(file);
  if (!st.isFile()) throw new KeyFileError(`${file} is not a regular file`);
  const loose = st.mode & 0o077;
  if (loose !== 0) {
    throw new KeyFileError(
      `key file ${file} has mode 0${(st.mode & 0o777).toString(8)}; it must be readable by its owner only: run chmod 600 ${file}`,
    );
  }
  if (typeof process.getuid === 'function' && st.uid !== process.getuid() && process.getuid() !== 0) {
    throw new KeyFileError(`key file ${file} belongs to another user (uid ${st.uid})`);
  }
}

/** Creates `file` with `text` (mode 0600, fsynced) unless it exists. Returns true if it wrote. */
export function createExclusive(file: string, text: string, mode = 0o600): boolean {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(file, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(file, mode);
  return true;
}

/** Replaces a (non-secret-bearing) manifest atomically: temp file, fsync, rename. */
export function replaceAtomic(file: string, text: string, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** Reads a base64 key file (after the permission check). Raw binary files of exactly `length` bytes are accepted too. */
export function readKeyFile(file: string, length: number): Uint8Array {
  if (!existsSync(file)) throw new KeyFileError(`key file ${file} does not exist`);
  assertPrivateFile(file);
  const raw = readFileSync(file);
  if (raw.length === length && !/^[A-Za-z0-9+/=_\-\s]+$/.test(raw.toString('latin1'))) return new Uint8Array(raw);
  try {
    return fromB64(raw.toString('utf8').trim(), file, length);
  } catch {
    throw new KeyFileError(`key file ${file}: expected ${length} bytes as base64`);
  }
}

/** A destination name as a safe file-name part. */
export function safeName(name: string, field = 'destination'): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name) || name.includes('..')) {
    throw new KeyFileError(`${field} "${name}" cannot name a key file: use letters, digits, '.', '_' and '-'`);
  }
  return name;
}

export const keyPath = (dir: string, name: string) => join(dir, name);

/**
 * Destroys a secret file: overwrites its bytes with random ones (fsynced), then unlinks it.
 * The overwrite matters on file systems that reuse blocks in place; what it cannot reach
 * (SSD wear levelling, snapshots, backups) is in docs/crypto.md. Returns false if it was absent.
 */
export function destroyKeyFile(file: string): boolean {
  if (!existsSync(file)) return false;
  const size = statSync(file).size;
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, randomBytes(Math.max(size, 1)), 0, Math.max(size, 1), 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  unlinkSync(file);
  try {
    const dir = openSync(dirname(file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    /* a directory fsync is best effort (not every platform allows it) */
  }
  return true;
}
