/**
 * Policy: the rules in force in plain words with their citations, whether the pack is
 * signed, and what changed since the previous policy this gateway ran (when a reload
 * happened while it ran). ruleDiff is pure.
 */
import type { CompiledPolicy, CompiledRule } from '../policy/index.js';
import { t } from './strings.js';
import type { PolicyTestSummary } from './types.js';

export interface RuleChange {
  id: string;
  change: 'added' | 'removed' | 'changed';
}

const shape = (r: CompiledRule) => JSON.stringify([r.description, r.effect, r.reason, r.texts, r.phase, r.obligations, r.status]);

export function ruleDiff(previous: CompiledPolicy, current: CompiledPolicy): RuleChange[] {
  const before = new Map(previous.rules.map((r) => [r.id, r]));
  const after = new Map(current.rules.map((r) => [r.id, r]));
  const out: RuleChange[] = [];
  for (const [id, r] of after) {
    const b = before.get(id);
    if (!b) out.push({ id, change: 'added' });
    else if (shape(b) !== shape(r)) out.push({ id, change: 'changed' });
  }
  for (const id of before.keys()) if (!after.has(id)) out.push({ id, change: 'removed' });
  return out;
}

export const PolicyPage = (p: { policy: CompiledPolicy; previous?: CompiledPolicy; tests?: PolicyTestSummary }) => {
  const pol = p.policy;
  const untested = new Set(p.tests?.uncovered ?? []);
  const diff = p.previous ? ruleDiff(p.previous, pol) : undefined;
  return (
    <div>
      <h1>{t('policy')}</h1>
      <dl class="facts">
        <dt>Policy</dt>
        <dd>
          {pol.title} ({pol.id} version {pol.version})
        </dd>
        <dt>Hash</dt>
        <dd>
          <code>{pol.sha256}</code>
        </dd>
        <dt>Signature</dt>
        <dd>{pol.signedBy ? <span class="ok">valid, signed by key {pol.signedBy}</span> : <span class="warn">not signed (the gateway runs it because policy.requireSigned is off)</span>}</dd>
        <dt>Rules</dt>
        <dd>{pol.rules.length}</dd>
        <dt>Tests</dt>
        <dd>
          {p.tests ? (
            <span class={p.tests.failed === 0 ? 'ok' : 'bad'}>
              {p.tests.passed} test cases passed, {p.tests.failed} failed ({p.tests.files} test files); {p.tests.coverage}% of the rules are exercised by a test
            </span>
          ) : (
            <span class="warn">no test files next to the policy (write *.test.yaml cases: see darwaza policy test)</span>
          )}
        </dd>
      </dl>
      <h2>Changes since the previous policy</h2>
      {!diff && <p class="muted">No other policy has been in force since the gateway started.</p>}
      {diff && diff.length === 0 && (
        <p>
          The previous policy ({p.previous!.version}, <code>{p.previous!.sha256.slice(0, 12)}…</code>) had the same rules.
        </p>
      )}
      {diff && diff.length > 0 && (
        <>
          <p>
            Compared with {p.previous!.id} version {p.previous!.version} (<code>{p.previous!.sha256.slice(0, 12)}…</code>):
          </p>
          <ul class="diff">
            {diff.map((d) => (
              <li class={d.change}>
                <code>{d.id}</code> {d.change}
              </li>
            ))}
          </ul>
        </>
      )}
      <h2>Rules, in the order they are weighed</h2>
      {pol.rules.map((r) => (
        <section class="rule" aria-label={`Rule ${r.id}`} id={`rule-${r.id}`}>
          <h3>
            <code>{r.id}</code> {r.effect ? <span class={`badge ${r.effect === 'permit' ? 'ok' : 'bad'}`}>{r.effect}</span> : <span class="badge idle">obligations</span>}
          </h3>
          <p>{r.description}</p>
          {r.texts.length > 0 && (
            <p>
              When: {r.texts.join('; and ')}.
            </p>
          )}
          {r.reason && <p>Reason given: {r.reason}</p>}
          {p.tests && untested.has(r.id) && <p class="warn">No test case exercises this rule.</p>}
          <p class="muted cite">Source: {r.source}</p>
        </section>
      ))}
    </div>
  );
};
