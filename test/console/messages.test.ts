/**
 * Messages in a real browser: the recipient answers 400, the overview shows the dead
 * letter as an action; the person follows "inspect" to the filtered list and to the
 * message page (decision, reasons, rule ids, policy hash, the plain-words trace), and
 * retries it with a reason once the recipient is fixed. The retry is an audit entry
 * naming the operator and the reason; the message is delivered. No browser errors.
 */
import t from 'tap';
import { consentFor, patientFor, observation } from '../../bench/fixtures.js';
import { openBrowser, signIn, startConsoleRig } from '../helpers/console.js';

const control = async (simUrl: string, body: unknown) => {
  const r = await fetch(`${simUrl}/_sim/control`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`simulator control answered ${r.status}`);
};

t.test('a dead letter: the action, inspect, the message page, retry with a reason', async (t) => {
  const rig = await startConsoleRig(t);
  const simUrl = `http://127.0.0.1:${rig.setup.simPort}`;
  const b = await openBrowser(t);
  const { page } = b;
  const sender = rig.token('lab-system', ['sender', 'consent-writer']);
  // Operator to act, auditor to see the rule-by-rule trace.
  const person = rig.token('ops-bilal', ['operator', 'auditor']);

  await control(simUrl, { status: 400 });
  await rig.post('/fhir/Patient', patientFor('p-dead'), sender); // registered first: its age is known
  t.equal((await rig.post('/fhir/Consent', consentFor('p-dead'), sender)).status, 201);
  const sent = await rig.post('/fhir/Observation', observation('p-dead', 1), sender);
  t.equal(sent.status, 202);
  const id = sent.body.id as string;

  await signIn(page, rig.admin, person);
  const action = page.locator('#live-actions li', { hasText: '1 dead letter to national-telemed since' });
  await action.waitFor({ timeout: 90_000 });
  t.match(await action.textContent(), /1 dead letter to national-telemed since \d{2}:\d{2}: recipient answered 400 \(bad request[^)]*\) — inspect/, 'the action says how many, where, since when and why');
  await b.shot('overview-dead-letter');

  await action.getByRole('link', { name: 'inspect' }).click();
  await page.waitForURL(/\/console\/messages\?state=dead&destination=national-telemed/);
  t.equal(await page.getByLabel('State').inputValue(), 'dead', 'the list is filtered by state');
  t.equal(await page.getByLabel('Destination').inputValue(), 'national-telemed', 'and by destination');
  const listed = page.locator(`tr[data-message="${id}"]`);
  t.ok(await listed.isVisible(), 'the dead letter is listed');
  t.notMatch(await page.locator('main').textContent(), /p-dead|Vital signs|Duty nurse/, 'the list shows no content of the message');
  await b.shot('messages');

  // The filters also narrow by message id and by source, with the keyboard.
  await page.getByLabel('Message id').fill(id);
  await page.getByLabel('Source').fill('someone-else');
  await page.getByLabel('Source').press('Enter');
  await page.waitForURL(/source=someone-else/);
  t.match(await page.getByRole('status').first().textContent(), /No messages match/, 'another source finds nothing');
  await page.getByLabel('Source').fill('lab-system');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/source=lab-system/);
  t.ok(await page.locator(`tr[data-message="${id}"]`).isVisible(), 'its own source finds it');

  await page.locator(`tr[data-message="${id}"] a`).click();
  await page.waitForURL(new RegExp(`/console/messages/${id}$`));
  const main = page.locator('main');
  t.match(await main.textContent(), /Dead letter to national-telemed[\s\S]*recipient answered 400/, 'the message page names the dead letter and why');
  const decision = page.getByRole('region', { name: 'Decision for national-telemed' });
  const decisionText = (await decision.textContent()) ?? '';
  t.match(decisionText, /permitted and queued/, 'the decision');
  t.match(decisionText, /Rules[\s\S]*[a-z0-9-]+/, 'its rule ids');
  t.match(decisionText, /Policy[\s\S]*[0-9a-f]{64}/, 'the policy hash');
  t.match(decisionText, /How the policy reasoned/, 'and the plain-words trace');
  await b.shot('message');

  // A reason is required; the recipient is fixed; retry.
  await control(simUrl, { status: null });
  const reason = page.getByLabel(/Reason \(why send again/);
  await reason.fill('recipient fixed their validation');
  await page.getByRole('button', { name: 'Retry delivery to national-telemed' }).click();
  await page.waitForURL(/done=retried/);
  t.match(await page.getByRole('status').first().textContent(), /back in the queue/, 'the retry is confirmed');
  await t.resolves(
    (async () => {
      for (let i = 0; i < 120; i++) {
        await page.reload();
        if (await page.locator('tr[data-destination="national-telemed"] .state.delivered').count()) return;
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error('the retried message was not delivered');
    })(),
    'the retried message is delivered',
  );
  const entry = rig.audit('admin-action').find((e) => e.messageId === id);
  t.equal(entry?.actor, 'ops-bilal', 'the retry is audited naming the operator');
  t.match(entry?.reason, /dead letter re-queued: recipient fixed their validation/, 'with the reason');
  t.same(b.errors, [], 'the browser logged no errors');
});

t.test('purge needs a reason and removes the sealed copy; the audit entry names the operator', async (t) => {
  const rig = await startConsoleRig(t);
  const simUrl = `http://127.0.0.1:${rig.setup.simPort}`;
  const b = await openBrowser(t);
  const { page } = b;
  const sender = rig.token('lab-system', ['sender', 'consent-writer']);
  await control(simUrl, { status: 422 });
  await rig.post('/fhir/Patient', patientFor('p-purge'), sender); // registered first: its age is known
  await rig.post('/fhir/Consent', consentFor('p-purge'), sender);
  const id = (await rig.post('/fhir/Observation', observation('p-purge', 1), sender)).body.id as string;
  await signIn(page, rig.admin, rig.token('ops-chand', ['operator']));
  for (let i = 0; i < 240; i++) {
    await page.goto(`${rig.admin}/console/messages/${id}`);
    if (await page.getByRole('region', { name: 'Dead letter to national-telemed' }).count()) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  t.notMatch(await page.locator('main').textContent(), /How the policy reasoned/, 'an operator alone does not see the trace');
  // Digits are scrubbed from reasons: no identifiers reach the audit log.
  await page.getByLabel(/Reason \(why destroy it/).fill('sent in error for bed 12345');
  await page.getByRole('button', { name: 'Purge the copy for national-telemed' }).click();
  await page.waitForURL(/done=purged/);
  t.match(await page.locator('tr[data-destination="national-telemed"] .state').textContent(), /purged/, 'the row is purged');
  const entry = rig.audit('purged').find((e) => e.messageId === id);
  t.equal(entry?.actor, 'ops-chand', 'the purge names the operator');
  t.match(entry?.reason, /operator purge of dead rows: sent in error for bed \(n\)/, 'with the scrubbed reason');
  t.same(b.errors, [], 'the browser logged no errors');
});
