/**
 * The overview in a real browser (Debian's Chromium): sign in with a token; a message
 * arrives and turns delivered without a reload (server-sent events); the uplink breaks
 * (the simulator stops) and the breaker and the action appear; the uplink comes back and
 * the backlog drains. The browser logs no error; screenshots go to test-output/.
 */
import t from 'tap';
import { consentFor, patientFor, observation } from '../../bench/fixtures.js';
import { openBrowser, signIn, startConsoleRig } from '../helpers/console.js';

t.test('overview: sign in, a message turns delivered live, the uplink breaks and comes back', async (t) => {
  const rig = await startConsoleRig(t);
  const b = await openBrowser(t);
  const { page } = b;
  const sender = rig.token('lab-system', ['sender', 'consent-writer']);
  const operator = rig.token('ops-ayesha', ['operator']);

  await signIn(page, rig.admin, operator);
  t.equal(new URL(page.url()).pathname, '/console/', 'an operator lands on the overview');
  t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Overview');
  // The test's copy of the pack is unsigned: that is the one thing the console asks about.
  t.notMatch(await page.locator('#live-actions').textContent(), /national-telemed/, 'nothing about the destination needs a person yet');
  t.match(await page.locator('#live-actions').textContent(), /The policy in force is not signed/, 'an unsigned policy is an action');
  t.ok(await page.getByRole('row', { name: /national-telemed/ }).first().isVisible(), 'the destination is listed');
  t.match(await page.locator('#live-health').textContent(), /Disk quota[\s\S]*Policy[\s\S]*Audit log[\s\S]*latest signed tree head covers \d+ entries/, 'appliance health is shown');
  const cookies = await b.context.cookies();
  const session = cookies.find((c) => c.name === 'darwaza_console');
  t.ok(session?.httpOnly, 'the session cookie is HttpOnly');
  t.equal(session?.sameSite, 'Strict', 'and SameSite=Strict');

  // A marker that a reload would wipe: the page must update in place.
  await page.evaluate(() => ((window as any).__still = true));
  await rig.post('/fhir/Patient', patientFor('p-live'), sender); // registered first: its age is known
  t.equal((await rig.post('/fhir/Consent', consentFor('p-live'), sender)).status, 201);
  const sent = await rig.post('/fhir/Observation', observation('p-live', 1), sender);
  t.equal(sent.status, 202, 'the message is accepted');
  const id = sent.body.id as string;
  const row = page.locator(`#live-recent tr[data-message="${id}"]`);
  await row.waitFor({ state: 'visible', timeout: 60_000 });
  await page.locator(`#live-recent tr[data-message="${id}"] .state.delivered`).waitFor({ timeout: 60_000 });
  t.pass('the message appeared and turned delivered without a reload');
  await page.locator('#live-destinations td[data-field="delivered-hour"]', { hasText: '1' }).first().waitFor({ timeout: 30_000 });
  t.equal(await page.evaluate(() => (window as any).__still), true, 'the page was not reloaded');
  await b.shot('overview');

  // Break the uplink: the next message cannot be delivered, the breaker opens.
  await rig.stopSim();
  const held = await rig.post('/fhir/Observation', observation('p-live', 2), sender);
  t.equal(held.status, 202, 'the gateway still accepts while the uplink is down');
  await page.locator('#live-destinations .badge.bad', { hasText: 'link down' }).waitFor({ timeout: 90_000 });
  t.pass('the breaker shows the link down');
  const action = page.locator('#live-actions li', { hasText: 'The link to national-telemed is down' });
  await action.waitFor({ timeout: 60_000 });
  t.match(await action.textContent(), /refused the connection[\s\S]*waits? and will be sent when it is back[\s\S]*see what waits/, 'the action says what happened in plain words and links to what waits');
  t.equal(await page.evaluate(() => (window as any).__still), true, 'still without a reload');
  await b.shot('overview-link-down');

  // The uplink comes back: the held message is delivered and the action goes.
  await rig.startSim();
  await page.locator(`#live-recent tr[data-message="${held.body.id}"] .state.delivered`).waitFor({ timeout: 90_000 });
  await action.waitFor({ state: 'detached', timeout: 60_000 });
  t.pass('the backlog drained and the action is gone');

  // Charts are drawn by uPlot from the live figures (two canvases).
  t.equal(await page.locator('.charts canvas').count(), 2, 'both charts are drawn');
  // Keyboard: the skip link is the first stop and moves to the content.
  await page.keyboard.press('Tab');
  t.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to the content', 'the first Tab reaches the skip link');
  // A tablet held upright: the page does not scroll sideways (wide tables scroll in their own box).
  await page.setViewportSize({ width: 768, height: 1024 });
  t.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 768), 'usable at 768 px without sideways scrolling');
  await b.shot('overview-tablet');
  t.same(b.errors, [], 'the browser logged no errors');
});
