/**
 * The alert rules and the Grafana dashboard that ship in docs/alerts: the rules parse and are
 * well formed, and every darwaza metric either names exists in a running gateway's /metrics.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO, prepareDir, startGatewayProcess } from '../helpers/processes.js';

const rules = parse(readFileSync(join(REPO, 'docs/alerts/darwaza.rules.yml'), 'utf8')) as { groups: Array<{ name: string; rules: Array<Record<string, any>> }> };
const dashboard = JSON.parse(readFileSync(join(REPO, 'docs/alerts/grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
const namesIn = (expr: string) => [...expr.matchAll(/\bdarwaza_[a-z0-9_]+/g)].map((m) => m[0]);

t.test('the rules file is well formed', async (t) => {
  t.ok(rules.groups.length > 0);
  const seen = new Set<string>();
  for (const r of rules.groups.flatMap((g) => g.rules)) {
    t.type(r.alert, 'string');
    t.notOk(seen.has(r.alert), `${r.alert} is named once`);
    seen.add(r.alert);
    t.type(r.expr, 'string', `${r.alert} has an expression`);
    t.match(r.labels?.severity, /^(warning|critical)$/, `${r.alert} has a severity`);
    t.type(r.annotations?.summary, 'string', `${r.alert} has a summary`);
    t.ok(namesIn(r.expr).length > 0, `${r.alert} reads a darwaza metric`);
  }
  // What the operator must hear about, each with a rule.
  for (const want of [/oldest_age/, /dead_letters/, /breaker_open/, /certificate_days_left/, /disk_free/, /audit_verify_failures/]) {
    t.ok(rules.groups.flatMap((g) => g.rules).some((r) => want.test(r.expr)), `a rule covers ${want}`);
  }
  t.ok(dashboard.panels.length > 0 && dashboard.panels.every((p) => p.targets.length > 0), 'every dashboard panel has a query');
});

t.test('every metric the rules and the dashboard name exists in a running gateway\'s /metrics', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir);
  const gw = await startGatewayProcess(dir);
  t.teardown(() => gw.kill());
  const r = await fetch(`http://127.0.0.1:${ports.admin}/metrics`);
  t.equal(r.status, 200);
  const text = await r.text();
  const declared = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]!));
  const exists = (name: string) => declared.has(name) || declared.has(name.replace(/_(bucket|sum|count)$/, ''));
  const used = new Set([...rules.groups.flatMap((g) => g.rules.map((x) => x.expr as string)), ...dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr))].flatMap(namesIn));
  t.ok(used.size >= 15, `${used.size} metric names used`);
  for (const name of used) t.ok(exists(name), `${name} is exposed`);
  t.match(text, /darwaza_queue_oldest_age_seconds\{destination="national-telemed"\} 0/, 'the new gauges carry values');
  t.match(text, /darwaza_breaker_open\{destination="national-telemed"\} 0/);
  t.match(text, /darwaza_disk_free_bytes \d+/);
});
