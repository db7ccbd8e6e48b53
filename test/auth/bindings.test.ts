import t from 'tap';
import { checkBindings, emptyAccess, parseAccessConfig, type AccessConfig, type BindingsInput } from '../../src/auth/index.js';

const loop = (port: number) => ({ host: '127.0.0.1', port });
const any = (port: number) => ({ host: '0.0.0.0', port });

function access(raw: unknown): AccessConfig {
  const r = parseAccessConfig(raw, 'gateway.config.json');
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.access;
}

/** The repository's demo: everything plain on loopback, admin by token. */
const base = (): BindingsInput => ({
  lan: { listen: loop(8080), tls: false },
  admin: { listen: loop(9090), tls: false, tokens: true },
  mllp: { listen: loop(2575), tls: false },
  access: emptyAccess(),
});

const fields = (r: { field: string }[]) => r.map((p) => p.field);

t.test('plain everything on loopback, admin by token: no problem', async (t) => {
  const r = checkBindings(base());
  t.same(r.problems, []);
  t.same(r.warnings, []);
});

t.test('plain HTTP on 0.0.0.0 is refused (LAN and admin); with TLS it is fine', async (t) => {
  let r = checkBindings({ ...base(), lan: { listen: any(8080), tls: false } });
  t.same(fields(r.problems), ['lan.tls']);
  t.match(r.problems[0]!.message, /0\.0\.0\.0:8080 without TLS: plain HTTP is allowed only on loopback/);
  r = checkBindings({ ...base(), lan: { listen: { host: '::', port: 8080 }, tls: false } });
  t.same(fields(r.problems), ['lan.tls'], ':: is not loopback');
  r = checkBindings({ ...base(), lan: { listen: { host: '192.168.1.10', port: 8080 }, tls: false } });
  t.same(fields(r.problems), ['lan.tls']);
  r = checkBindings({ ...base(), lan: { listen: any(8080), tls: true } });
  t.same(r.problems, []);
  for (const host of ['localhost', '::1', '127.0.0.5']) {
    t.same(checkBindings({ ...base(), lan: { listen: { host, port: 8080 }, tls: false } }).problems, [], `${host} is loopback`);
  }
  r = checkBindings({ ...base(), admin: { listen: any(9090), tls: false, tokens: true } });
  t.same(fields(r.problems), ['admin.tls']);
});

t.test('the admin API without TLS or tokens is refused, even on loopback', async (t) => {
  let r = checkBindings({ ...base(), admin: { listen: loop(9090), tls: false, tokens: false } });
  t.same(fields(r.problems), ['admin.tokens']);
  t.match(r.problems[0]!.message, /\/healthz/);
  r = checkBindings({ ...base(), admin: { listen: any(9090), tls: true, tokens: false } });
  t.same(r.problems, [], 'mTLS alone is enough');
});

t.test('plain MLLP on 0.0.0.0 needs an allow-list; each allow-listed sender is a warning', async (t) => {
  let r = checkBindings({ ...base(), mllp: { listen: any(2575), tls: false } });
  t.same(fields(r.problems), ['mllp.tls']);
  t.match(r.problems[0]!.message, /access\.mllpPlainSenders/);

  const a = access({ mllpPlainSenders: [{ ip: '10.1.2.3', name: 'legacy-lab', roles: ['sender'] }] });
  r = checkBindings({ ...base(), mllp: { listen: any(2575), tls: false }, access: a });
  t.same(r.problems, []);
  t.same(fields(r.warnings), ['access.mllpPlainSenders[0]']);
  t.match(r.warnings[0]!.message, /"legacy-lab" \(10\.1\.2\.3\) sends HL7 v2 over plain MLLP/);

  r = checkBindings({ ...base(), mllp: { listen: any(2575), tls: true }, access: a });
  t.same(r.problems, []);
  t.match(r.warnings[0]!.message, /MLLP uses TLS: the entry is ignored/);
  r = checkBindings({ ...base(), access: a });
  t.match(r.warnings[0]!.message, /cannot reach MLLP on 127\.0\.0\.1:2575/);
  r = checkBindings({ ...base(), mllp: null, access: a });
  t.same(fields(r.warnings), ['access.mllpPlainSenders']);
  t.same(checkBindings({ ...base(), mllp: null }).problems, [], 'no MLLP listener, nothing to check');
});

t.test('warnings: roles for unauthenticated loopback peers and the unsigned demo', async (t) => {
  const r = checkBindings({ ...base(), access: access({ loopback: { roles: ['sender'], grants: ['break-glass'] } }), policy: { requireSigned: false } });
  t.same(r.problems, []);
  t.same(fields(r.warnings), ['access.loopback', 'policy.requireSigned']);
  t.match(r.warnings[0]!.message, /without authentication as: sender \(grants: break-glass\)/);
  t.same(checkBindings({ ...base(), policy: { requireSigned: true } }).warnings, []);
});

t.test('several problems at once are all reported', async (t) => {
  const r = checkBindings({
    lan: { listen: any(8080), tls: false },
    admin: { listen: any(9090), tls: false, tokens: false },
    mllp: { listen: any(2575), tls: false },
    access: emptyAccess(),
  });
  t.same(fields(r.problems), ['lan.tls', 'admin.tls', 'admin.tokens', 'mllp.tls']);
});
