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
import { AuditLog, accessDeniedEvent, breachReport, breakGlassReport, disclosures, exportLog, verifyLog } from '../audit/index.js';
import { DEFAULT_SOURCE, tokensForIds, type ConsentRegistry } from '../consent/index.js';
import { certificateStatus } from '../pki/index.js';
import { runPolicyTests, type CompiledPolicy } from '../policy/index.js';
import type { DestinationDispatchState, QueueStore } from '../queue/index.js';
import type { MessageExplanation } from '../pipeline/index.js';
import type { Db } from '../store/index.js';
import type { ConsoleDeps, ConsoleQueue, PolicyTestSummary } from './types.js';

export interface GatewayParts {
  auth: HttpAuth;
  tokens: TokenVerifier;
  db: Db;
  store: QueueStore & Pick<ConsoleQueue, 'deliveredSince'>;
  dispatch(): DestinationDispatchState[];
  audit: AuditLog;
  consents: ConsentRegistry;
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

export function consoleDeps(g: GatewayParts): ConsoleDeps {
  const patientTokens = (id: string) => [...new Set([g.tokenize(id), ...tokensForIds([id], g.tokenize, DEFAULT_SOURCE)])];
  return {
    auth: g.auth,
    identify: (token) => {
      const who = identityFromBearer(`Bearer ${token}`, g.tokens, g.clock());
      // A refused sign-in is a security event like a refused bearer token on any route.
      if (!who.ok) g.audit.append([accessDeniedEvent({ time: g.clock(), action: 'console.view', route: 'POST /console/sign-in', reason: who.reason })]);
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
    audit: {
      size: () => g.audit.size(),
      latestHead: () => g.audit.latestHead(),
      heads: () => g.audit.heads(),
      verify: async () => {
        const keys = g.audit.keys().map((k) => k.publicKey);
        if (keys.length === 0) return { ok: false, reason: 'no signed tree head yet: nothing vouches for the log' };
        return verifyLog(g.db, keys);
      },
      exportFiles: async () => {
        const out = mkdtempSync(join(tmpdir(), 'darwaza-console-export-'));
        try {
          const dir = join(out, 'export');
          exportLog(g.audit, { out: dir, clock: g.clock });
          return Object.fromEntries(readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
        } finally {
          rmSync(out, { recursive: true, force: true });
        }
      },
      disclosures: (patientId) => disclosures(g.db, patientTokens(patientId)),
      breach: (since, until) => breachReport(g.db, { since, until }),
      breakGlass: (since, until) => breakGlassReport(g.db, { ...(since ? { since } : {}), ...(until ? { until } : {}) }),
    },
    consents: {
      search: (patientId) =>
        g.consents.list({ patientIds: [patientId], limit: 100 }).map((c) => ({
          id: c.id,
          status: c.status,
          resource: c.resource as unknown as Record<string, unknown>,
          versions: g.consents.history(c.id).map((v) => ({ version: v.version, status: v.status, stored: v.receivedAt, ...(v.reason ? { reason: v.reason } : {}) })),
        })),
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
