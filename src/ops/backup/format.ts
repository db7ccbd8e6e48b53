/**
 * The backup file: one file, encrypted and authenticated as a whole, streamable both ways.
 *
 *   "DZBACKUP"                 8 bytes, magic
 *   u32be n, header            n bytes of JSON in clear (BackupHeader: format, version, when,
 *                              Argon2id salt and cost, schema version) — nothing secret
 *   secretstream header        24 bytes (crypto_secretstream_xchacha20poly1305)
 *   records                    each: u32be n, then n bytes of secretstream ciphertext
 *
 * The key is Argon2id (crypto_pwhash, ALG_ARGON2ID13) of the passphrase with the header's
 * salt and cost. The first record's associated data is the header's bytes, so an edited
 * header fails like a wrong passphrase. Each decrypted record is one type byte and a body:
 *   1 file start  JSON { name, mode, size }      2 file data  raw bytes (≤ 64 KiB)
 *   3 file end    JSON { sha256 }                 4 end        JSON { files } (tag FINAL)
 * A file cut short has no FINAL record and is refused; records cannot be reordered,
 * dropped or replayed (secretstream chains them).
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { DEFAULT_PWHASH_MEM, DEFAULT_PWHASH_OPS, getSodium, type SodiumLib } from '../../crypto/index.js';

export const BACKUP_MAGIC = Buffer.from('DZBACKUP', 'ascii');
export const BACKUP_FORMAT = 'darwaza-backup';
export const BACKUP_VERSION = 1;
const CHUNK = 64 * 1024;
const REC = { start: 1, data: 2, end: 3, final: 4 } as const;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  v: typeof BACKUP_VERSION;
  createdAt: string;
  darwaza: string;
  schemaVersion: number;
  kdf: { alg: 'argon2id13'; salt: string; opsLimit: number; memLimitBytes: number };
  /** Where the gateway's KEK came from: a file KEK is inside the backup; env/passphrase KEKs are not. */
  kek: 'file' | 'env' | 'passphrase';
}

export class BackupError extends Error {
  override name = 'BackupError';
}

/** At least this many characters: the passphrase guards every key of the appliance. */
export const MIN_PASSPHRASE = 12;

async function deriveKey(s: SodiumLib, passphrase: string, kdf: BackupHeader['kdf']): Promise<Uint8Array> {
  if (passphrase.length < MIN_PASSPHRASE) throw new BackupError(`the backup passphrase must have at least ${MIN_PASSPHRASE} characters`);
  return s.crypto_pwhash(
    s.crypto_secretstream_xchacha20poly1305_KEYBYTES,
    passphrase,
    Buffer.from(kdf.salt, 'base64'),
    kdf.opsLimit,
    kdf.memLimitBytes,
    s.crypto_pwhash_ALG_ARGON2ID13,
  );
}

export interface FileToBackUp {
  /** Name inside the backup ("data/darwaza.db", "certs/token.key"). */
  name: string;
  path: string;
  mode: number;
  size: number;
}

/** Writes the backup to `out` (a new file, 0600, fsynced). */
export async function writeBackup(
  out: string,
  passphrase: string,
  header: Omit<BackupHeader, 'format' | 'v' | 'kdf'> & { kdf?: { opsLimit: number; memLimitBytes: number } },
  files: readonly FileToBackUp[],
): Promise<BackupHeader> {
  const s = await getSodium();
  const full: BackupHeader = {
    format: BACKUP_FORMAT,
    v: BACKUP_VERSION,
    ...header,
    kdf: {
      alg: 'argon2id13',
      salt: Buffer.from(s.randombytes_buf(s.crypto_pwhash_SALTBYTES)).toString('base64'),
      opsLimit: header.kdf?.opsLimit ?? DEFAULT_PWHASH_OPS,
      memLimitBytes: header.kdf?.memLimitBytes ?? DEFAULT_PWHASH_MEM,
    },
  };
  const key = await deriveKey(s, passphrase, full.kdf);
  const headerBytes = Buffer.from(JSON.stringify(full), 'utf8');
  const fd = openSync(out, 'wx', 0o600);
  try {
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b;
    };
    writeSync(fd, BACKUP_MAGIC);
    writeSync(fd, u32(headerBytes.length));
    writeSync(fd, headerBytes);
    const { state, header: ssHeader } = s.crypto_secretstream_xchacha20poly1305_init_push(key);
    writeSync(fd, ssHeader);
    let first = true;
    const push = (type: number, body: Uint8Array, final = false) => {
      const plain = new Uint8Array(1 + body.length);
      plain[0] = type;
      plain.set(body, 1);
      const tag = final ? s.crypto_secretstream_xchacha20poly1305_TAG_FINAL : s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
      const c = s.crypto_secretstream_xchacha20poly1305_push(state, plain, first ? headerBytes : null, tag);
      first = false;
      writeSync(fd, u32(c.length));
      writeSync(fd, c);
    };
    const json = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');
    for (const f of files) {
      push(REC.start, json({ name: f.name, mode: f.mode & 0o777, size: f.size }));
      const hash = createHash('sha256');
      let seen = 0;
      for await (const chunk of createReadStream(f.path, { highWaterMark: CHUNK })) {
        const b = chunk as Buffer;
        hash.update(b);
        seen += b.length;
        push(REC.data, b);
      }
      if (seen !== f.size) throw new BackupError(`${f.name} changed size while it was being backed up`);
      push(REC.end, json({ sha256: hash.digest('hex') }));
    }
    push(REC.final, json({ files: files.length }), true);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
    key.fill(0);
  }
  return full;
}

/** Reads the clear header only (no passphrase needed). */
export function readBackupHeader(file: string): { header: BackupHeader; offset: number } {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(12);
    if (readSync(fd, head, 0, 12, 0) !== 12 || !head.subarray(0, 8).equals(BACKUP_MAGIC)) throw new BackupError(`${file} is not a darwaza backup`);
    const n = head.readUInt32BE(8);
    if (n > 1 << 20) throw new BackupError(`${file}: the header is implausibly large`);
    const bytes = Buffer.alloc(n);
    if (readSync(fd, bytes, 0, n, 12) !== n) throw new BackupError(`${file} is cut short`);
    let header: BackupHeader;
    try {
      header = JSON.parse(bytes.toString('utf8')) as BackupHeader;
    } catch {
      throw new BackupError(`${file}: the header is not valid JSON`);
    }
    if (header.format !== BACKUP_FORMAT || header.v !== BACKUP_VERSION) throw new BackupError(`${file}: not a version ${BACKUP_VERSION} darwaza backup`);
    return { header, offset: 12 + n };
  } finally {
    closeSync(fd);
  }
}

export interface RestoredFile {
  name: string;
  mode: number;
  size: number;
}

/**
 * Decrypts the backup, handing each file to `sink`: open(name, mode) returns a writer
 * (write bytes, then close). Throws BackupError on a wrong passphrase, a damaged or
 * truncated file, or a file whose hash does not match.
 */
export async function readBackup(
  file: string,
  passphrase: string,
  sink: (f: RestoredFile) => { write(b: Uint8Array): void; close(): void },
): Promise<{ header: BackupHeader; files: RestoredFile[] }> {
  const s = await getSodium();
  const { header, offset } = readBackupHeader(file);
  const headerBytes = (() => {
    const fd = openSync(file, 'r');
    try {
      const b = Buffer.alloc(offset - 12);
      readSync(fd, b, 0, b.length, 12);
      return b;
    } finally {
      closeSync(fd);
    }
  })();
  const key = await deriveKey(s, passphrase, header.kdf);
  const fd = openSync(file, 'r');
  let pos = offset;
  const read = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    const got = readSync(fd, b, 0, n, pos);
    if (got !== n) throw new BackupError('the backup is cut short (truncated)');
    pos += n;
    return b;
  };
  const files: RestoredFile[] = [];
  try {
    const state = s.crypto_secretstream_xchacha20poly1305_init_pull(read(s.crypto_secretstream_xchacha20poly1305_HEADERBYTES), key);
    let first = true;
    let current: { f: RestoredFile; w: ReturnType<typeof sink>; hash: ReturnType<typeof createHash>; seen: number } | undefined;
    for (;;) {
      const n = read(4).readUInt32BE(0);
      if (n > CHUNK + 1024) throw new BackupError('the backup is damaged (a record is too large)');
      const c = read(n);
      let r: { message: Uint8Array; tag: number } | false;
      try {
        r = s.crypto_secretstream_xchacha20poly1305_pull(state, c, first ? headerBytes : null) as { message: Uint8Array; tag: number } | false;
      } catch {
        r = false;
      }
      if (!r) throw new BackupError(first ? 'wrong passphrase (or the backup was altered)' : 'the backup was altered or is damaged: a record does not authenticate');
      first = false;
      const type = r.message[0];
      const body = r.message.subarray(1);
      const json = () => JSON.parse(Buffer.from(body).toString('utf8'));
      if (type === REC.start) {
        const f = json() as RestoredFile;
        if (typeof f.name !== 'string' || !/^(data|certs|config)\/[^\0]+$/.test(f.name) || f.name.split('/').includes('..')) throw new BackupError(`the backup names an unsafe path`);
        current = { f, w: sink(f), hash: createHash('sha256'), seen: 0 };
      } else if (type === REC.data && current) {
        current.hash.update(body);
        current.seen += body.length;
        current.w.write(body);
      } else if (type === REC.end && current) {
        current.w.close();
        const { sha256 } = json() as { sha256: string };
        if (current.seen !== current.f.size || current.hash.digest('hex') !== sha256) throw new BackupError(`${current.f.name} in the backup does not match its recorded hash`);
        files.push(current.f);
        current = undefined;
      } else if (type === REC.final) {
        if (r.tag !== s.crypto_secretstream_xchacha20poly1305_TAG_FINAL || current) throw new BackupError('the backup is damaged (bad end record)');
        const { files: count } = json() as { files: number };
        if (count !== files.length) throw new BackupError(`the backup should hold ${count} files but holds ${files.length}`);
        return { header, files };
      } else throw new BackupError('the backup is damaged (unknown record)');
    }
  } finally {
    closeSync(fd);
    key.fill(0);
  }
}
