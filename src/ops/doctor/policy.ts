/**
 * The policy pack loads and its signature holds. With trusted signers configured, loadPolicy
 * does the check; a signature without configured signers is still checked against the key it
 * names (that catches tampering, not a re-signed pack), and an unsigned pack is a warning.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadPolicy, parseSignature, resolvePolicyFile, verifyPack } from '../../policy/index.js';
import { fail, ok, skip, warn, type Finding } from '../finding.js';
import type { DoctorContext } from './context.js';

export async function checkPolicy(ctx: DoctorContext): Promise<Finding[]> {
  const c = ctx.config;
  if (!c) return [skip('policy', 'no config file: the policy path is not known (give --config)')];
  const opts = { trustedSigners: c.policy.trustedSigners, requireSigned: c.policy.requireSigned };
  let policy;
  try {
    policy = await loadPolicy(c.policy.path, opts);
  } catch (err) {
    return [fail('policy', `the policy pack is refused: ${(err as Error).message.slice(0, 400)}`, 'restore the signed pack as it was published, or have the new one signed (`darwaza policy sign`) by a key in policy.trustedSigners')];
  }
  const name = `${policy.ref.id} ${policy.ref.version} (sha256 ${policy.ref.sha256.slice(0, 16)}…)`;
  if (policy.signedBy) return [ok('policy', `${name} is signed by trusted key ${policy.signedBy}`)];
  const file = await resolvePolicyFile(c.policy.path);
  if (!existsSync(`${file}.sig`)) {
    return [warn('policy', `${name} is not signed`, 'sign the pack (`darwaza policy sign --key KEY FILE`) and set policy.trustedSigners and policy.requireSigned')];
  }
  try {
    const sig = parseSignature(readFileSync(`${file}.sig`, 'utf8'));
    const r = await verifyPack(policy.pack!, sig, [sig.publicKey]);
    if (!r.ok) return [fail('policy', `${name}: ${r.reason}`, 'restore the pack as it was signed, or have the change signed')];
  } catch (err) {
    return [fail('policy', `${name}: the signature file is not valid (${(err as Error).message.slice(0, 200)})`, 'restore the .sig file beside the policy')];
  }
  return [warn('policy', `${name} matches its signature, but no trusted signer is configured, so who signed it is not checked`, 'set policy.trustedSigners to the regulator\'s key and policy.requireSigned to true')];
}
