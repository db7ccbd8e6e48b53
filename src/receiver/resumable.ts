/**
 * Resumable uploads for large envelopes, with the tus protocol (@tus/server, @tus/file-store):
 * the gateway uploads the envelope in chunks that resume after a drop instead of restarting.
 * When an upload is complete it goes through the kit like a single delivery (open, de-duplicate,
 * persist) and the kit's verdict is the answer to the last PATCH. A duplicate is answered 200:
 * tus clients read 409 as an offset conflict. Upload metadata: idempotencyKey, contentType.
 * If the server lost an upload's state (restart without its folder), the client's HEAD gets
 * 404 and it starts a new upload: a clean restart, never a half-stitched file.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';
import { ENVELOPE_CONTENT_TYPE } from './batch-frame.js';
import type { ReceiverKit } from './kit.js';

export const DEFAULT_RESUMABLE_PATH = '/tus';

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
  return { path, handle: (req, res) => server.handle(req, res) };
}
