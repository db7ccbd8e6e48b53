/**
 * What the gateway says at start about how far the policy pack in force is protected.
 * The demo runs unsigned on purpose; it must say so, every time.
 */

/**
 * A warning when the policy pack is not required to be signed, or undefined when it is.
 * Plain words for the operator's log; no paths, no content.
 */
export function unsignedPolicyWarning(policy: { requireSigned: boolean; trustedSigners: string[] }, signedBy?: string): string | undefined {
  if (policy.requireSigned) return undefined;
  const facts = 'the destinations (country, kind, consent model, allowed hosts, recipient keys) and the de-identification profiles it declares';
  const how = 'For production run "darwaza init --production" (or set policy.requireSigned: true and list the signer under policy.trustedSigners) and sign the pack with "darwaza policy sign".';
  if (signedBy) {
    return `policy signatures are not required (policy.requireSigned is false): the pack in force is signed by key ${signedBy}, but an unsigned pack would be accepted too, and with it ${facts}. ${how}`;
  }
  return `UNSIGNED POLICY PACK: signatures are not required (policy.requireSigned is false), so anyone who can write the policy folder decides ${facts}. This is the demo setting. ${how}`;
}
