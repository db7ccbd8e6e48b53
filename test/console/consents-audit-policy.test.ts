/**
 * Consents, audit and policy pages in a real browser: a consent reader finds a patient's
 * consent by CNIC and reads its provisions in plain words; a consent writer withdraws it
 * with a reason; an auditor verifies the audit log (htmx, no reload), downloads an export,
 * lists one patient's disclosures and makes the breach report; the policy page shows the
 * rules with their citations. No browser errors; screenshots in test-output/.
 */
import t from 'tap';
import { consentFor } from '../../bench/fixtures.js';
import { openBrowser, signIn, startConsoleRig } from '../helpers/console.js';

const CNIC = '35202-1234567-1';
const cnicConsent = () => ({ ...consentFor('p-cnic'), patient: { identifier: { system: 'http://nadra.gov.pk/cnic', value: CNIC } } });

t.test('consents: search by CNIC, provisions in plain words, withdraw with a reason', async (t) => {
  const rig = await startConsoleRig(t);
  const writer = rig.token('records-office', ['consent-writer']);
  const stored = await rig.post('/fhir/Consent', cnicConsent(), writer);
  t.equal(stored.status, 201, 'a consent filed under a CNIC');
  const b = await openBrowser(t);
  const { page } = b;

  await signIn(page, rig.admin, rig.token('desk-reader', ['consent-reader']));
  t.equal(new URL(page.url()).pathname, '/console/consents', 'a consent reader lands on the consents page');
  t.same(await page.getByRole('navigation').getByRole('link').allTextContents(), ['Consents'], 'and sees only the page it may open');
  await page.getByLabel('CNIC or MRN').fill(CNIC.replace(/-/g, ''));
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForLoadState('domcontentloaded');
  t.equal(new URL(page.url()).search, '', 'the CNIC is posted, not put in the address');
  const consent = page.getByRole('region', { name: `Consent ${stored.body.id}` });
  t.match(await consent.textContent(), /active/, 'found, active');
  t.match(await consent.textContent(), /Permits national-telemed \(as information recipient\) for treatment, emergency treatment from 2026-01-01 to 2030-12-31/, 'provisions in plain words');
  t.equal(await page.getByRole('button', { name: /Withdraw/ }).count(), 0, 'a reader cannot withdraw');
  await b.shot('consents');

  // A writer withdraws it, with a reason.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, rig.admin, writer);
  await page.getByLabel('CNIC or MRN').fill(CNIC);
  await page.getByLabel('CNIC or MRN').press('Enter');
  await page.waitForLoadState('domcontentloaded');
  await page.getByLabel(/Reason for withdrawing/).fill('patient asked at the front desk');
  await page.getByRole('button', { name: `Withdraw consent ${stored.body.id}` }).click();
  await page.waitForLoadState('domcontentloaded');
  t.match(await page.getByRole('status').first().textContent(), new RegExp(`Consent ${stored.body.id} withdrawn \\(version 2\\)`), 'withdrawn, a new version');
  t.match(await page.getByRole('region', { name: `Consent ${stored.body.id}` }).textContent(), /inactive[\s\S]*patient asked at the front desk/, 'the versions show the withdrawal and its reason');
  const audited = rig.audit('consent-withdrawn').find((e) => e.consentId === stored.body.id);
  t.equal(audited?.actor, 'records-office', 'the withdrawal is audited naming the writer');
  t.same(b.errors, [], 'the browser logged no errors');
});

t.test('audit: verify now, export download, disclosures, breach report; policy page', async (t) => {
  const rig = await startConsoleRig(t);
  const writer = rig.token('records-office', ['consent-writer']);
  t.equal((await rig.post('/fhir/Consent', cnicConsent(), writer)).status, 201);
  const b = await openBrowser(t);
  const { page } = b;
  await signIn(page, rig.admin, rig.token('auditor-zara', ['auditor']));
  await page.getByRole('navigation').getByRole('link', { name: 'Audit' }).click();
  await page.waitForURL(/\/console\/audit$/);
  t.match(await page.locator('#verify-result').textContent(), /Not verified since the gateway started/);

  await page.evaluate(() => ((window as any).__still = true));
  await page.getByRole('button', { name: 'Verify now' }).click();
  await page.locator('#verify-result', { hasText: 'Verified:' }).waitFor({ timeout: 60_000 });
  t.match(await page.locator('#verify-result').textContent(), /Verified: \d+ entries and \d+ signed tree heads check out/, 'the log verifies');
  t.equal(await page.evaluate(() => (window as any).__still), true, 'in place (htmx), without a reload');
  await b.shot('audit');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download a verifiable export' }).click()]);
  t.match(download.suggestedFilename(), /^darwaza-audit-.+\.tar$/, 'the export downloads as a .tar');
  const path = await download.path();
  const { readFileSync } = await import('node:fs');
  const tar = readFileSync(path).toString('latin1');
  for (const f of ['entries.ndjson', 'tree-heads.json', 'gateway-public-key.json', 'manifest.json']) t.match(tar, new RegExp(`/${f.replace('.', '\\.')}`), `it holds ${f}`);

  await page.getByLabel('CNIC, MRN (system|value) or Patient/id').fill(CNIC);
  await page.getByRole('button', { name: 'Show disclosures' }).click();
  await page.waitForLoadState('domcontentloaded');
  t.match(await page.locator('#disclosures-summary').textContent(), /\d+ audited events, 0 disclosures/, "the patient's accounting of disclosures");
  t.notMatch(await page.locator('main').textContent(), new RegExp(CNIC), 'the CNIC is not echoed back');

  await page.getByLabel('Report', { exact: true }).selectOption('breach');
  await page.getByRole('button', { name: 'Make the report' }).click();
  await page.waitForLoadState('domcontentloaded');
  t.match(await page.locator('.report').textContent(), /Breach report[\s\S]*patients affected/, 'the breach report');

  await page.getByRole('navigation').getByRole('link', { name: 'Policy' }).click();
  await page.waitForURL(/\/console\/policy$/);
  const main = (await page.locator('main').textContent()) ?? '';
  t.match(main, /pk-default version/, 'the policy and its version');
  t.match(main, /not signed/, 'whether it is signed (the test copy is not)');
  t.match(main, /treatment-in-pakistan permit[\s\S]*When: the destination.s country is PK[\s\S]*Source: Sindh Telemedicine/, 'rules in plain words with their citations');
  const tests = /(\d+) test cases passed, (\d+) failed \((\d+) test files\); ([\d.]+)% of the rules are exercised/.exec(main);
  t.ok(tests, `the policy's own test results and coverage are shown (${main.match(/Tests.{0,120}/)?.[0]})`);
  t.ok(Number(tests?.[1]) > 0 && Number(tests?.[4]) > 0, 'the pack\'s test cases ran');
  await b.shot('policy');
  t.same(b.errors, [], 'the browser logged no errors');
});
