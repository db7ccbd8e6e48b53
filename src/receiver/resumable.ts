/**
 * Resumable uploads for large envelopes, with the tus protocol (@tus/server, @tus/file-store):
 * the gateway uploads the envelope in chunks that resume after a drop instead of restarting.
 * When an upload is complete it goes through the kit like a single delivery (open, de-duplicate,
 * persist) and the kit's verdict is the answer to the last PATCH. A duplicate is answered 200:
 * tus clients read 409 as an offset conflict. Upload metadata: idempotencyKey, contentType.
 * If the server lost an upload's state (restart without its folder), the client's HEAD gets
 * 404 and it starts a new upload: a clean restart, never a half-stitched file.
 *
 * An upload the kit accepted is remembered (a small record under `.finished/`, the envelope itself
 * is deleted): when the link drops after the last chunk arrived but before its answer did, the
 * client's HEAD reads "complete" and it stops, instead of uploading the whole envelope again.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';
import { ENVELOPE_CONTENT_TYPE } from './batch-frame.js';
import type { ReceiverKit } from './kit.js';

export const DEFAULT_RESUMABLE_PATH = '/tus';
/** How long an accepted upload still answers HEAD as complete (a client retrying after a lost answer). */
const FINISHED_KEPT_MS = 24 * 3600_000;
const TUS_VERSION = '1.0.0';

export interface ResumableReceiver {
  path: string;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Ids accepted through completed uploads (for a simulator's counters). */
  onAccepted?: (ids: string[]) => void;
}

export function createResumableReceiver(opts: {
  kit: ReceiverKit;
  /** Where partial uploads are kept (they resume across a receiver restart when it survives). */
  directory: string;
  path?: string;
  maxBytes?: number;
  onAnswer?: (accepted: string[]) => void;
}): ResumableReceiver {
  const path = opts.path ?? DEFAULT_RESUMABLE_PATH;
  const finished = finishedUploads(join(opts.directory, '.finished'));
  const server = new Server({
    path,
    datastore: new FileStore({ directory: opts.directory }),
    relativeLocation: true,
    ...(opts.maxBytes ? { maxSize: opts.maxBytes } : {}),
    async onUploadFinish(_req, upload) {
      const file = join(opts.directory, upload.id);
      const md = upload.metadata ?? {};
      try {
        const body = await readFile(file);
        const answer = await opts.kit.handle(body, {
          'content-type': md.contentType ?? ENVELOPE_CONTENT_TYPE,
          ...(md.idempotencyKey ? { 'idempotency-key': md.idempotencyKey } : {}),
        });
        opts.onAnswer?.(answer.accepted);
        // tus has no end-to-end checksum here: an envelope assembled from resumed chunks that does not
        // parse or verify may be the transport's fault, so it is uploaded again (never dead-lettered for it).
        if ((answer.status >= 200 && answer.status < 300) || answer.status === 409) await finished.add(upload.id, upload.size ?? body.byteLength);
        if (answer.status === 400 || answer.status === 401) {
          return { status_code: 503, body: JSON.stringify({ error: 'the assembled upload did not verify; upload it again' }), headers: { 'retry-after': '1' } };
        }
        return { status_code: answer.status === 409 ? 200 : answer.status, body: answer.body, headers: answer.headers };
      } catch {
        return { status_code: 503, body: JSON.stringify({ error: 'could not be stored; send again' }) };
      } finally {
        // Whatever the verdict, a finished upload is gone: a client that asks about it again (its
        // answer was lost, or said 503) gets 404 and uploads anew, and the kit's receipts make
        // that safe. A finished upload left behind would read as "complete" without an answer.
        await Promise.all([rm(file, { force: true }), rm(`${file}.json`, { force: true })]).catch(() => {});
      }
    },
  });
  return {
    path,
    async handle(req, res) {
      if (req.method === 'HEAD') {
        const length = await finished.lengthOf(uploadIdOf(req.url ?? '', path));
        if (length !== undefined) {
          res.writeHead(200, { 'tus-resumable': TUS_VERSION, 'upload-offset': String(length), 'upload-length': String(length), 'cache-control': 'no-store' });
          res.end();
          return;
        }
      }
      return server.handle(req, res);
    },
  };
}

/** The upload id in `<path>/<id>` (tus ids are [A-Za-z0-9_-]), else undefined. */
function uploadIdOf(url: string, path: string): string | undefined {
  const m = /^([^?]*)/.exec(url)![1]!;
  const prefix = path.endsWith('/') ? path : `${path}/`;
  if (!m.startsWith(prefix)) return undefined;
  const id = m.slice(prefix.length);
  return /^[A-Za-z0-9_-]{1,128}$/.test(id) ? id : undefined;
}

/** Accepted uploads, one small file each (its content is the envelope's length), swept after a day. */
function finishedUploads(dir: string) {
  let lastSweep = 0;
  const sweep = async (now: number) => {
    if (now - lastSweep < 3600_000) return;
    lastSweep = now;
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      const st = await stat(join(dir, f)).catch(() => undefined);
      if (st && now - st.mtimeMs > FINISHED_KEPT_MS) await rm(join(dir, f), { force: true }).catch(() => {});
    }
  };
  return {
    async add(id: string, length: number): Promise<void> {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, id), String(length));
      await sweep(Date.now());
    },
    async lengthOf(id: string | undefined): Promise<number | undefined> {
      if (!id) return undefined;
      const text = await readFile(join(dir, id), 'utf8').catch(() => undefined);
      const n = text === undefined ? NaN : Number(text);
      return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
    },
  };
}
