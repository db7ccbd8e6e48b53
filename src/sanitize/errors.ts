/** Errors of applying a profile. Messages name rules and elements, never data values or keys. */

/** A processing error (the profile could not be applied to this input). No values in the message. */
export class SanitizeError extends Error {
  override name = 'SanitizeError';
  constructor(
    message: string,
    readonly ruleIndex: number | null,
    /** 'processing' obeys processingErrors; 'rule-not-applicable' is a profile bug and always raises. */
    readonly kind: 'processing' | 'rule-not-applicable',
  ) {
    super(message);
  }
}
