/**
 * `darwaza doctor`: every check in the order an operator would look, each returning findings
 * with their fixes. A check that throws becomes a failed finding of its own (doctor itself
 * never stops half-way).
 */
import type { Finding } from '../finding.js';
import { fail } from '../finding.js';
import type { DoctorContext } from './context.js';
import { checkPorts } from './ports.js';
import { checkDisk } from './disk.js';
import { checkPermissions } from './permissions.js';
import { checkKeys } from './keys.js';
import { checkCertificates } from './certificates.js';
import { checkPolicy } from './policy.js';
import { checkDatabase } from './database.js';
import { checkUplinks } from './uplink.js';
import { checkSharedStore } from './shared-store.js';

export type { DoctorContext } from './context.js';
export { integrityProblems } from './database.js';
export { listedPublicKeys } from './keys.js';
export { tryBind } from './ports.js';
export { shownUrl } from './shared-store.js';

const CHECKS: Array<[string, (ctx: DoctorContext) => Finding[] | Promise<Finding[]>]> = [
  ['permissions', checkPermissions],
  ['ports', checkPorts],
  ['disk', checkDisk],
  ['keys', checkKeys],
  ['certificates', checkCertificates],
  ['policy', checkPolicy],
  ['database', checkDatabase],
  ['shared-store', checkSharedStore],
  ['uplink', checkUplinks],
];

export async function runDoctor(ctx: DoctorContext, only?: readonly string[]): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const [name, check] of CHECKS) {
    if (only && !only.includes(name)) continue;
    try {
      out.push(...(await check(ctx)));
    } catch (err) {
      out.push(fail(name, `the check could not run: ${(err as Error)?.message?.slice(0, 200) ?? 'error'}`, 'report it with the message above'));
    }
  }
  return out;
}

export const DOCTOR_CHECKS = CHECKS.map(([n]) => n);
