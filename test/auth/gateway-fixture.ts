/**
 * An in-process gateway for access tests: real listeners on free loopback ports, a temp
 * folder, real API tokens in the gateway's own token table, and (for mTLS) a CA and client
 * certificates from src/pki. Audit entries are read back from the gateway's database.
 */
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startGateway, type RunningGateway } from '../../src/gateway/index.js';
import { loadOrCreateKeyStore } from '../../src/crypto/index.js';
import { createLogger } from '../../src/log/index.js';
import { TokenStore, type Role, type Grant } from '../../src/auth/index.js';
import { initCa, issueCertificate } from '../../src/pki/index.js';
import { testConfig } from '../helpers/config.js';
import { freePort } from '../helpers/net.js';
import { REPO } from '../helpers/processes.js';

export const FHIR = { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' };

export interface Fixture {
  gw: RunningGateway;
  dir: string;
  logs: () => string;
  token(name: string, roles: Role[], grants?: Grant[]): string;
  audit(event?: string): Record<string, unknown>[];
  /** HTTPS request with a client certificate from the fixture's CA (mTLS mode). */
  tls(name: string, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Record<string, string | string[] | undefined> }>;
  http(port: 'lan' | 'admin', method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
}

export async function startFixture(t: { testdir(): string; teardown(fn: () => unknown): void }, opts: { tls?: boolean; clients?: string[]; patch?: (c: any) => void } = {}): Promise<Fixture> {
  const dir = t.testdir();
  const simPort = await freePort();
  const config = testConfig((c) => {
    c.dataDir = join(dir, 'data');
    c.certsDir = join(dir, 'certs');
    c.listen = { lan: '127.0.0.1:0', admin: '127.0.0.1:0', mllp: null };
    c.simulator = { embedded: false, listen: `127.0.0.1:${simPort}` };
    c.policy.path = join(REPO, 'policies', 'pk');
    c.policy.profilesDir = join(REPO, 'policies', 'profiles');
    for (const d of c.destinations) d.url = `http://127.0.0.1:${simPort}/ingest`;
    if (opts.tls) c.lan = { tls: true, allowPlainHttp: false };
    opts.patch?.(c);
  }, dir);
  (await loadOrCreateKeyStore(config.certsDir)).ensureKekFile();
  if (opts.tls) {
    initCa(config.certsDir, { organization: 'access-test' });
    issueCertificate(config.certsDir, 'localhost', { server: true });
    for (const name of opts.clients ?? []) issueCertificate(config.certsDir, name);
  }
  let out = '';
  const logger = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => ((out += c), cb()) }) });
  const gw = await startGateway(config, { logger, simulator: false });
  t.teardown(() => gw.stop());
  const tokens = TokenStore.open(gw.db);
  const ca = opts.tls ? readFileSync(join(config.certsDir, 'ca.crt')) : undefined;
  return {
    gw,
    dir,
    logs: () => out,
    token: (name, roles, grants = []) => tokens.create({ name, roles, grants, expiresAt: new Date(Date.now() + 3_600_000) }).token,
    audit: (event) =>
      (gw.db.prepare('SELECT entry FROM audit_entries ORDER BY idx').pluck().all() as string[])
        .map((e) => JSON.parse(e) as Record<string, unknown>)
        .filter((e) => event === undefined || e.event === event),
    http: async (port, method, path, body, headers = {}) => {
      const r = await fetch(`http://127.0.0.1:${port === 'lan' ? gw.lanPort : gw.adminPort}${path}`, {
        method,
        headers: { ...(body === undefined ? {} : FHIR), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await r.text();
      let parsed: any = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON (metrics) */
      }
      return { status: r.status, body: parsed, headers: r.headers };
    },
    tls: (name, method, path, body, headers = {}) =>
      new Promise((resolve, reject) => {
        const req = https.request(
          {
            host: '127.0.0.1',
            servername: 'localhost',
            port: gw.lanPort,
            path,
            method,
            headers: { ...(body === undefined ? {} : FHIR), ...headers },
            agent: new https.Agent({
              ca,
              key: readFileSync(join(config.certsDir, 'clients', `${name}.key`)),
              cert: readFileSync(join(config.certsDir, 'clients', `${name}.crt`)),
              maxCachedSessions: 0,
              keepAlive: false,
            }),
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d) => (text += d));
            res.on('end', () => {
              let parsed: any = text;
              try {
                parsed = JSON.parse(text);
              } catch {
                /* keep text */
              }
              resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
            });
          },
        );
        req.on('error', reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      }),
  };
}
