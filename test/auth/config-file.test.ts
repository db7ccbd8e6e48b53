/** The access section read from a real config file: errors name the file, the line and the field. */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, DEMO_CONFIG } from '../../src/config/index.js';

t.test('a wrong role in access.clients is refused with file:line:col and the field', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'gateway.config.json');
  const raw = structuredClone(DEMO_CONFIG) as any;
  raw.access = { clients: { lab: { roles: ['sender'] }, desk: { roles: ['sendr'] } }, consentReadsPerMinute: 0 };
  writeFileSync(file, JSON.stringify(raw, null, 2));
  const err = (() => {
    try {
      loadConfig(file);
    } catch (e) {
      return e as { name: string; problems: string[] };
    }
    return undefined;
  })();
  t.equal(err?.name, 'ConfigError');
  const text = err?.problems.join('\n') ?? '';
  t.match(text, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: access\\.clients\\.desk\\.roles\\[0\\]`), `the schema names file, line and field:\n${text}`);
  t.match(text, /consentReadsPerMinute/, 'and the rate');
});

t.test('the demo config loads with the loopback grant, and access defaults elsewhere', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'gateway.config.json');
  writeFileSync(file, JSON.stringify(DEMO_CONFIG, null, 2));
  const c = loadConfig(file);
  t.same(c.access.loopback?.roles, ['sender', 'consent-writer', 'consent-reader', 'operator', 'auditor']);
  t.same(c.access.loopback?.grants, ['break-glass']);
  t.equal(c.access.consentReadsPerMinute, 60);
  t.same(c.deprecations, []);
});

t.test('meaning errors from parseAccessConfig carry the line too', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'gateway.config.json');
  const raw = structuredClone(DEMO_CONFIG) as any;
  raw.access = { clients: { desk: { roles: ['consent-writer'], grants: ['break-glass'] } } };
  writeFileSync(file, JSON.stringify(raw, null, 2));
  t.throws(() => loadConfig(file), { message: /gateway\.config\.json:\d+:\d+: access\.clients\["desk"\]\.grants: grants only apply to the "sender" role/ });
});
