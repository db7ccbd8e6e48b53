/** An in-memory MessageStore for pipeline and HTTP-app tests (the real store has its own tests). */
import type { MessageStore } from '../../src/pipeline/index.js';

export type AcceptWrite = Parameters<MessageStore['accept']>[0];

export function memoryStore(opts: { atQuota?: () => boolean; failWith?: Error } = {}) {
  const writes: AcceptWrite[] = [];
  const idem = new Map<string, { response: string; requestSha256?: string }>();
  return {
    writes,
    async accept(w: AcceptWrite) {
      if (opts.failWith) throw opts.failWith;
      writes.push(w);
      if (w.idempotency) idem.set(w.idempotency.key, { response: w.idempotency.response, ...(w.idempotency.requestSha256 ? { requestSha256: w.idempotency.requestSha256 } : {}) });
    },
    findIdempotent: async (k: string) => idem.get(k),
    getMessage: (id: string) => {
      const w = writes.find((x) => x.message.id === id);
      return w ? { id, outcomes: JSON.parse(w.message.outcomes) } : undefined;
    },
    atQuota: () => opts.atQuota?.() ?? false,
  };
}
