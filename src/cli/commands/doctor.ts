/**
 * `darwaza doctor` — checks the appliance the way an operator would before trusting it:
 * ports, disk and quota, clock skew, file permissions, keys, certificate expiry, the policy
 * signature, the database's pages, the audit log and the uplinks. Read-only.
 */
import { EXIT, UsageError, parseFlags, type Command } from '../command.js';
import { PATH_FLAGS, pathUsage, resolvePaths } from '../paths.js';
import { runDoctor, DOCTOR_CHECKS, formatFindings, failed } from '../../ops/index.js';

export const command: Command = {
  name: 'doctor',
  summary: 'check ports, disk, clock, permissions, keys, certificates, policy, database, audit log and uplinks',
  usage: `Usage: darwaza doctor [--config FILE] [--data-dir DIR] [--certs-dir DIR] [--only CHECK,…] [--json]

Looks at everything the gateway needs and prints one line per finding, with its fix.
It changes nothing and can run beside the running gateway.

Checks: ${DOCTOR_CHECKS.join(', ')}
  (clock skew is measured against an uplink's Date header, within the uplink check)

Options:
${pathUsage('config', 'data-dir', 'certs-dir')}
  --only CHECK,…         run only these checks
  --timeout-ms N         give up on a network check after N ms (default 5000)
  --json                 the findings as JSON: [{ check, status, message, fix }]
Exit: 0 nothing failed (warnings allowed), 1 a check failed, 2 usage, 3 bad config.`,
  async run(args, io) {
    const { values } = parseFlags(args, { ...PATH_FLAGS, only: { type: 'string' }, json: { type: 'boolean' }, 'timeout-ms': { type: 'string' } }, false);
    const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
    for (const o of only ?? []) if (!DOCTOR_CHECKS.includes(o)) throw new UsageError(`--only: unknown check "${o}" (${DOCTOR_CHECKS.join(', ')})`);
    const timeoutMs = values['timeout-ms'] === undefined ? 5000 : Number(values['timeout-ms']);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new UsageError('--timeout-ms: a positive whole number');
    const paths = resolvePaths(io, values);
    const findings = await runDoctor(
      { config: paths.config(), dataDir: paths.dataDir(), certsDir: paths.certsDir(), env: io.env, now: () => new Date(), timeoutMs },
      only,
    );
    if (values.json) io.out(JSON.stringify({ ok: !failed(findings), findings }, null, 2));
    else for (const line of formatFindings(findings)) io.out(line);
    return failed(findings) ? EXIT.failed : EXIT.ok;
  },
};
