/**
 * The console's port built from the gateway's own parts: the queue store's operator and
 * status reads, the dispatcher's breaker states, the audit log and its reports, the
 * consent registry, the policy in force and the certificates folder. The gateway's
 * composition root calls this once; nothing here reads a table itself.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { identityFromBearer, type HttpAuth, type TokenVerifier } from '../auth/index.js';
import {
  AuditLog,
  PostgresAuditLog,
  accessDeniedEvent,
  breachReport,
  breakGlassReport,
  disclosures,
  exportLog,
  exportPostgresLog,
  postgresBreachReport,
  postgresBreakGlassReport,
  postgresDisclosures,
  verifyLog,
  verifyPostgresLog,
} from '../audit/index.js';
import { DEFAULT_SOURCE, tokensForIds, type ConsentStore } from '../consent/index.js';
import { certificateStatus } from '../pki/index.js';
import { runPolicyTests, type CompiledPolicy } from '../policy/index.js';
import type { DestinationDispatchState, QueueStore } from '../queue/index.js';
import type { MessageExplanation } from '../pipeline/index.js';
import type { Db } from '../store/index.js';
import type { ConsoleAudit, ConsoleDeps, ConsoleQueue, PolicyTestSummary } from './types.js';

export interface GatewayParts {
  auth: HttpAuth;
  tokens: TokenVerifier;
  store: QueueStore & Pick<ConsoleQueue, 'deliveredSince'>;
  dispatch(): DestinationDispatchState[];
  /** The log the console reads: sqliteConsoleAudit (one appliance) or postgresConsoleAudit (a pair). */
  audit: ConsoleAudit;
  /** Where a refused sign-in is audited. */
  auditSink: Pick<AuditLog, 'append'>;
  /** The consent registry's async port (SQLite or PostgreSQL). */
  consents: ConsentStore;
  tokenize: (id: string) => string;
  policy(): CompiledPolicy;
  /** The policy folder, where its *.test.yaml files live. */
  policyDir?: string;
  explain(id: string): Promise<MessageExplanation | undefined>;
  destinations(): string[];
  certsDir: string;
  quotaBytes: number;
  clock: () => Date;
}

/** A patient id as the log knows it: the id's own token and the tokens of its normalised forms. */
const patientTokensOf = (tokenize: (id: string) => string) => (id: string) => [...new Set([tokenize(id), ...tokensForIds([id], tokenize, DEFAULT_SOURCE)])];

/** Export files of a native export written into a scratch folder, name → bytes. */
async function exportedFiles(write: (dir: string) => unknown): Promise<Record<string, Uint8Array>> {
  const out = mkdtempSync(join(tmpdir(), 'darwaza-console-export-'));
  try {
    const dir = join(out, 'export');
    await write(dir);
    return Object.fromEntries(readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** The console's view of one appliance's SQLite log. */
export function sqliteConsoleAudit(db: Db, log: AuditLog, tokenize: (id: string) => string, clock: () => Date): ConsoleAudit {
  const patientTokens = patientTokensOf(tokenize);
  return {
    size: () => log.size(),
    latestHead: () => log.latestHead(),
    heads: () => log.heads(),
    verify: async () => {
      const keys = log.keys().map((k) => k.publicKey);
      if (keys.length === 0) return { ok: false, reason: 'no signed tree head yet: nothing vouches for the log' };
      return verifyLog(db, keys);
    },
    exportFiles: () => exportedFiles((dir) => exportLog(log, { out: dir, clock })),
    disclosures: (patientId) => disclosures(db, patientTokens(patientId)),
    breach: (since, until) => breachReport(db, { since, until }),
    breakGlass: (since, until) => breakGlassReport(db, { ...(since ? { since } : {}), ...(until ? { until } : {}) }),
  };
}

/** The console's view of the log a pair shares on PostgreSQL. */
export function postgresConsoleAudit(log: PostgresAuditLog, tokenize: (id: string) => string, clock: () => Date): ConsoleAudit {
  const patientTokens = patientTokensOf(tokenize);
  return {
    size: () => log.size(),
    latestHead: () => log.latestHead(),
    heads: () => log.heads(),
    verify: async () => {
      const keys = (await log.keys()).map((k) => k.publicKey);
      if (keys.length === 0) return { ok: false, reason: 'no signed tree head yet: nothing vouches for the log' };
      return verifyPostgresLog(log, keys);
    },
    exportFiles: () => exportedFiles((dir) => exportPostgresLog(log, { out: dir, clock })),
    disclosures: (patientId) => postgresDisclosures(log, patientTokens(patientId)),
    breach: (since, until) => postgresBreachReport(log, { since, until }),
    breakGlass: (since, until) => postgresBreakGlassReport(log, { ...(since ? { since } : {}), ...(until ? { until } : {}) }),
  };
}

export function consoleDeps(g: GatewayParts): ConsoleDeps {
  return {
    auth: g.auth,
    identify: (token) => {
      const who = identityFromBearer(`Bearer ${token}`, g.tokens, g.clock());
      // A refused sign-in is a security event like a refused bearer token on any route.
      if (!who.ok) g.auditSink.append([accessDeniedEvent({ time: g.clock(), action: 'console.view', route: 'POST /console/sign-in', reason: who.reason })]);
      return who;
    },
    clock: g.clock,
    destinations: g.destinations,
    queue: g.store,
    dispatch: g.dispatch,
    quotaBytes: g.quotaBytes,
    explain: g.explain,
    certificates: () => certificateStatus(g.certsDir, g.clock()).map((c) => ({ name: c.name, notAfter: c.notAfter, daysLeft: c.daysLeft, revoked: c.revoked })),
    policy: g.policy,
    ...(g.policyDir ? { policyTests: policyTestsOf(g.policyDir, g.policy) } : {}),
    audit: g.audit,
    consents: {
      search: async (patientId) =>
        Promise.all(
          (await g.consents.list({ patientIds: [patientId], limit: 100 })).map(async (c) => ({
            id: c.id,
            status: c.status,
            resource: c.resource as unknown as Record<string, unknown>,
            versions: (await g.consents.history(c.id)).map((v) => ({ version: v.version, status: v.status, stored: v.receivedAt, ...(v.reason ? { reason: v.reason } : {}) })),
          })),
        ),
      withdraw: (id, reason, actor) => g.consents.withdraw(id, reason, actor),
    },
  };
}

/** The policy's tests, run again only when the policy in force changes (its hash). */
function policyTestsOf(dir: string, policy: () => CompiledPolicy): () => Promise<PolicyTestSummary | undefined> {
  let cached: { sha256: string; result: Promise<PolicyTestSummary | undefined> } | undefined;
  return () => {
    const sha256 = policy().sha256;
    if (cached?.sha256 !== sha256) {
      const result = runPolicyTests(dir).then(
        (r) =>
          r.files.length === 0
            ? undefined
            : { files: r.files.length, passed: r.passed, failed: r.failed, coverage: r.coverage, uncovered: [...new Set(r.files.flatMap((f) => f.uncovered))].sort() },
        () => undefined,
      );
      cached = { sha256, result };
    }
    return cached.result;
  };
}
