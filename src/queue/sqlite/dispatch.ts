/**
 * The dispatcher's side: claim() hands out ready rows of one destination, emergency lane
 * first, then in enqueue order, decrypting payloads (a payload that fails authentication
 * is dead-lettered on the spot, never thrown); settle() applies many results in one
 * transaction with their audit events; recover() frees rows a crash left in flight.
 */
import { queueItemAad } from '../../crypto/index.js';
import { auditEvents, integrityFailureEvent } from '../../audit/index.js';
import type { ClaimedItem, Settlement } from '../types.js';
import type { StoreContext } from './context.js';
import { laneName, tokenOf } from './rows.js';
import type { ChangedRow, ClaimRow } from './statements.js';
import type { Statement } from 'better-sqlite3';

export class DispatchSide {
  private readonly txClaim: (destination: string, limit: number, now: number) => ClaimedItem[];
  private readonly txSettle: (settlements: Settlement[], now: number) => void;

  private readonly syncNormal: Statement;
  private readonly syncFull: Statement;

  constructor(
    private readonly c: StoreContext,
    private readonly leaseMs: number,
    private readonly relaxedBookkeeping: boolean,
  ) {
    const { db, s } = c;
    // Prepared once: db.pragma() compiles its statement on every call, twice per bookkeeping transaction.
    this.syncNormal = db.prepare('PRAGMA synchronous = NORMAL');
    this.syncFull = db.prepare('PRAGMA synchronous = FULL');
    this.txClaim = db.transaction((destination: string, limit: number, now: number) => {
      const rows = s.selClaim.all(destination, now, limit) as ClaimRow[];
      const out: ClaimedItem[] = [];
      for (const r of rows) {
        let payload: Uint8Array;
        try {
          if (!r.payload) throw new Error('payload missing');
          payload = c.cipher.decrypt(r.payload, r.cipher_scope, queueItemAad(r.message_id, r.destination));
        } catch {
          // Bound to (message id, destination): a payload altered, or moved here from another row, is refused.
          c.audit.append([integrityFailureEvent({ table: 'queue_items', reason: 'payload failed authentication', time: new Date(now), messageId: r.message_id, destination: r.destination })]);
          this.deadLetter(r.seq, 'payload failed authentication', undefined, now, false);
          continue;
        }
        s.updClaim.run(now + this.leaseMs, now, r.seq);
        out.push({
          id: r.seq,
          messageId: r.message_id,
          destination: r.destination,
          lane: laneName(r.lane),
          payload,
          contentType: r.content_type,
          cipherScope: r.cipher_scope,
          patientTokens: JSON.parse(r.patient_tokens) as string[],
          context: r.context,
          attempt: r.attempts + 1,
          enqueuedAt: r.enqueued_at,
        });
      }
      return out;
    });

    this.txSettle = db.transaction((settlements: Settlement[], now: number) => {
      for (const st of settlements) {
        switch (st.kind) {
          case 'delivered': {
            const r = s.updDelivered.get(now, now, st.status ?? null, st.id) as ChangedRow | undefined;
            if (!r) break;
            c.held.change(-r.payload_bytes);
            c.audit.append([
              auditEvents.delivered({
                time: now,
                messageId: r.message_id,
                destination: r.destination,
                ...tokenOf(r),
                decision: 'delivered',
                reason: st.status ? `HTTP ${st.status}` : 'delivered',
              }),
            ]);
            c.observer.delivered?.(r.destination, now - r.enqueued_at);
            break;
          }
          case 'retry': {
            const r = s.updRetry.get(st.nextAttemptAt, st.error, st.status ?? null, now, st.id) as ChangedRow | undefined;
            if (r) c.observer.retried?.(r.destination);
            break;
          }
          case 'dead':
            this.deadLetter(st.id, st.reason, st.status, now, true);
            break;
          case 'withdrawn': {
            const r = s.updWithdrawn.get(st.reason, now, st.id) as ChangedRow | undefined;
            if (!r) break;
            c.held.change(-r.payload_bytes);
            c.audit.append(
              st.audit?.length
                ? st.audit
                : [
                    auditEvents.consentWithdrawn({
                      time: now,
                      messageId: r.message_id,
                      destination: r.destination,
                      ...tokenOf(r),
                      decision: 'withdrawn',
                      reason: st.reason,
                    }),
                  ],
            );
            c.observer.withdrawn?.(r.destination);
            break;
          }
          case 'release':
            if (st.notBefore !== undefined) s.updDefer.run(st.notBefore, now, st.id);
            else s.updRelease.run(now, st.id);
            break;
        }
      }
    });
  }

  /** Marks up to `limit` due rows in flight and returns them decrypted. */
  claim(destination: string, limit: number): ClaimedItem[] {
    if (limit <= 0) return [];
    return this.bookkeeping(() => this.txClaim(destination, limit, this.c.clock()));
  }

  settle(settlements: Settlement[]): void {
    if (settlements.length) this.bookkeeping(() => this.txSettle(settlements, this.c.clock()));
  }

  /** The link came back: the destination's waiting rows are due now. */
  wake(destination: string): number {
    const now = this.c.clock();
    return this.bookkeeping(() => this.c.s.wake.run(now, destination, now).changes);
  }

  oldestWaiting(): { destination: string; enqueuedAt: number }[] {
    return (this.c.s.oldestWaiting.all() as { destination: string; enqueued_at: number }[]).map((r) => ({ destination: r.destination, enqueuedAt: r.enqueued_at }));
  }

  /** Rows left in flight by a crash become ready again (attempt not counted). */
  recover(): number {
    return this.c.s.recover.run().changes;
  }

  /** Runs a dispatcher transaction without its own fsync, restoring FULL before anything else can run. */
  private bookkeeping<T>(fn: () => T): T {
    if (!this.relaxedBookkeeping || this.c.db.inTransaction) return fn();
    this.syncNormal.run();
    try {
      return fn();
    } finally {
      this.syncFull.run();
    }
  }

  private deadLetter(id: number, reason: string, status: number | undefined, now: number, countAttempt: boolean): void {
    const stmt = countAttempt ? this.c.s.updDeadCounted : this.c.s.updDeadUncounted;
    const r = stmt.get(reason, status ?? null, now, id) as ChangedRow | undefined;
    if (!r) return;
    this.c.audit.append([
      auditEvents.deadLettered({
        time: now,
        messageId: r.message_id,
        destination: r.destination,
        ...tokenOf(r),
        decision: 'dead',
        reason,
      }),
    ]);
    this.c.observer.deadLettered?.(r.destination);
  }
}
