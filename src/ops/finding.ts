/**
 * One thing `darwaza doctor` looked at, and what it found: ok, a warning, a failure, or a
 * check it could not run (skip) — each failure or warning names its fix in plain words.
 * Findings never carry PHI: they name files, ports, destinations and counts.
 */
export type FindingStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  /** The check's short name (ports, disk, clock, permissions, keys, certificates, policy, database, audit, uplink). */
  check: string;
  status: FindingStatus;
  /** What was found, in plain words. */
  message: string;
  /** What to do about it (present on warn and fail). */
  fix?: string;
}

export const ok = (check: string, message: string): Finding => ({ check, status: 'ok', message });
export const warn = (check: string, message: string, fix: string): Finding => ({ check, status: 'warn', message, fix });
export const fail = (check: string, message: string, fix: string): Finding => ({ check, status: 'fail', message, fix });
export const skip = (check: string, message: string): Finding => ({ check, status: 'skip', message });

/** Failed = at least one finding failed (warnings and skips do not fail the run). */
export function failed(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.status === 'fail');
}

const MARK: Record<FindingStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

/** Lines for a terminal: one per finding, its fix indented below. */
export function formatFindings(findings: readonly Finding[]): string[] {
  const lines: string[] = [];
  for (const f of findings) {
    lines.push(`${MARK[f.status]}  ${f.check.padEnd(12)} ${f.message}`);
    if (f.fix) lines.push(`${' '.repeat(19)}fix: ${f.fix}`);
  }
  const n = (s: FindingStatus) => findings.filter((f) => f.status === s).length;
  lines.push('', `${n('fail')} failed, ${n('warn')} warnings, ${n('ok')} ok, ${n('skip')} skipped.`);
  return lines;
}
