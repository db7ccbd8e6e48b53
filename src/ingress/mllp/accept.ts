/**
 * How an HL7 v2 message enters the pipeline: the MLLP handler's accept call, answered
 * from the pipeline's result. The listener (server.ts) and the per-frame handling
 * (handle.ts) know nothing of the pipeline; this adapter is the one place they meet,
 * as the HTTP app meets it in ingress/http.
 */
import type { PurposeOfUse } from '../../model/index.js';
import type { Pipeline } from '../../pipeline/index.js';
import { OperationOutcomeError, QuotaExceededError } from '../../fhir/index.js';
import type { MllpAccept } from './handle.js';

export interface MllpAcceptOptions {
  pipeline: Pick<Pipeline, 'ingest'>;
  /** Back-pressure: at quota the sender gets CR and resends later. */
  messages: { atQuota(): boolean };
  /** HL7 v2 carries no purpose of use: the gateway's default applies (ETREAT for an allowed break-glass). */
  defaultPurpose: PurposeOfUse;
  /** Called (no PHI) when storing failed unexpectedly; the sender gets AE and resends. */
  onError?: (err: unknown, messageType: string) => void;
}

export function createMllpAccept(opts: MllpAcceptOptions): MllpAccept {
  return async (input) => {
    if (opts.messages.atQuota()) throw new QuotaExceededError('the queue is at its disk quota');
    try {
      const r = await opts.pipeline.ingest({
        resource: input.fhir ?? { resourceType: 'Binary', contentType: 'x-application/hl7-v2+er7' },
        source: input.source,
        ...(input.claimedSource ? { claimedSource: input.claimedSource } : {}),
        ...(input.plain ? { plain: true } : {}),
        // Break-glass (allowed by the handler's access check) is the only purpose a v2 message can carry.
        purpose: input.breakGlass ? 'ETREAT' : opts.defaultPurpose,
        format: 'hl7v2',
        v2: input.text,
        messageType: input.messageType,
        idempotencyKey: input.idempotencyKey,
        responseFor: (answer) => input.ackFor(answer.id),
        opaque: input.fhir === null,
      });
      if (r.kind === 'duplicate') return { kind: 'duplicate', storedResponse: r.stored };
      return { kind: 'accepted', messageId: r.answer.id, storedAck: r.stored };
    } catch (err) {
      // Refusals carry their outcome (the handler maps it to AR/AE/CR); anything else is reported first.
      if (!(err instanceof OperationOutcomeError)) opts.onError?.(err, input.messageType);
      throw err;
    }
  };
}
