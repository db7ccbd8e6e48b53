/**
 * The console under a real browser: an in-process gateway (real sockets, a real SQLite
 * file, its own copy of the pack) with the recording upstream simulator, API tokens in
 * the gateway's token table, and Debian's Chromium driven by playwright-core (nothing
 * downloads a browser). Every page's console errors and uncaught exceptions are kept, so
 * a test can check that the browser logged none; screenshots go to test-output/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startGateway, type RunningGateway } from '../../src/gateway/index.js';
import { TokenStore, type Role } from '../../src/auth/index.js';
import { memoryLogger, setupGateway, type GatewaySetup } from './gateway.js';
import { startRecordingSimulator, type RecordingSimulator } from './recording-sim.js';
import { REPO } from './processes.js';

export const CHROMIUM = process.env.DARWAZA_CHROMIUM ?? '/usr/bin/chromium';
export const SHOTS = join(REPO, 'test-output');
export const FHIR = { 'content-type': 'application/fhir+json' };

export interface ConsoleRig {
  setup: GatewaySetup;
  gw: RunningGateway;
  sim?: RecordingSimulator;
  admin: string;
  lan: string;
  token(name: string, roles: Role[]): string;
  startSim(): Promise<void>;
  stopSim(): Promise<void>;
  post(path: string, body: unknown, token: string): Promise<{ status: number; body: any }>;
  audit(event?: string): Record<string, any>[];
}

type T = { testdir(): string; teardown(fn: () => unknown): void };

export async function startConsoleRig(t: T, patch: (c: any) => void = () => {}): Promise<ConsoleRig> {
  const setup = await setupGateway(t, (c) => {
    // A breaker that opens after three failures and stays open long enough to be seen.
    c.dispatcher = { pollMs: 50, breakerFailures: 3, breakerCooldownMs: 3000 };
    // As in production: no roles for unauthenticated loopback peers, so every page needs a token.
    c.access = { ...c.access, loopback: undefined };
    patch(c);
  });
  const { logger } = memoryLogger();
  const gw = await startGateway(setup.config, { logger, simulator: false });
  const tokens = TokenStore.open(gw.db);
  const rig: ConsoleRig = {
    setup,
    gw,
    admin: `http://127.0.0.1:${gw.adminPort}`,
    lan: `http://127.0.0.1:${gw.lanPort}`,
    token: (name, roles) => tokens.create({ name, roles, grants: [], expiresAt: new Date(Date.now() + 3_600_000) }).token,
    async startSim() {
      rig.sim = await startRecordingSimulator(setup.config.certsDir, setup.simPort);
    },
    async stopSim() {
      await rig.sim?.stop();
      rig.sim = undefined;
    },
    async post(path, body, token) {
      // darwaza's decision JSON (the message id and each destination's decision), not the FHIR OperationOutcome.
      const r = await fetch(`${rig.lan}${path}`, { method: 'POST', headers: { ...FHIR, accept: 'application/vnd.darwaza.decision+json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
      return { status: r.status, body: await r.json() };
    },
    audit: (event) =>
      (gw.db.prepare('SELECT entry FROM audit_entries ORDER BY idx').pluck().all() as string[]).map((e) => JSON.parse(e)).filter((e) => event === undefined || e.event === event),
  };
  // Stop order: the simulator, then the gateway (its stop ends the console's live streams).
  t.teardown(async () => {
    await rig.stopSim();
    await gw.stop();
  });
  await rig.startSim();
  return rig;
}

export interface Browsing {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Console errors and page errors seen so far, on every page of the context. */
  errors: string[];
  shot(name: string): Promise<void>;
}

export async function openBrowser(t: T): Promise<Browsing> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  // 1024 px: the width the console must be usable at.
  const context = await browser.newContext({ viewport: { width: 1024, height: 900 }, acceptDownloads: true });
  context.setDefaultTimeout(60_000);
  const errors: string[] = [];
  const watch = (p: Page) => {
    p.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    p.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  };
  context.on('page', watch);
  const page = await context.newPage();
  mkdirSync(SHOTS, { recursive: true });
  return {
    browser,
    context,
    page,
    errors,
    shot: async (name) => {
      await page.screenshot({ path: join(SHOTS, `console-${name}.png`), fullPage: true });
    },
  };
}

/** Signs in through the form, the way a person does. */
export async function signIn(page: Page, admin: string, token: string): Promise<void> {
  await page.goto(`${admin}/console/sign-in`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState('domcontentloaded');
}
