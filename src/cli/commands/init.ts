/**
 * `darwaza init [--dir DIR]` — makes what a fresh appliance folder needs, where missing:
 * gateway.config.json (the demo defaults), the shipped policy pack and profiles,
 * the data folder, and keys under certs/. Idempotent: never overwrites a file.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { EXIT, parseFlags, type Command } from '../command.js';
import { DEMO_CONFIG, loadConfig } from '../../config/index.js';
import { embeddedAssets } from '../../embedded/index.js';
import { describeKeyFile, ensureKeySet } from '../../crypto/index.js';
import { keySetOptions } from '../paths.js';

export interface InitResult {
  dir: string;
  created: string[];
}

/** The work of init, callable from `start` on first run. */
export async function initFolder(dir: string, opts: { production?: boolean } = {}): Promise<InitResult> {
  const created: string[] = [];
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, 'gateway.config.json');
  if (!existsSync(configFile)) {
    // Production refuses any policy pack not signed by a key listed under policy.trustedSigners.
    const config = opts.production ? { ...DEMO_CONFIG, policy: { ...DEMO_CONFIG.policy, requireSigned: true } } : DEMO_CONFIG;
    writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n', { mode: 0o644, flag: 'wx' });
    created.push('gateway.config.json');
  }
  for (const [rel, text] of Object.entries(embeddedAssets())) {
    const target = join(dir, rel);
    if (existsSync(target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, text, { flag: 'wx' });
    created.push(rel);
  }
  const config = loadConfig(configFile);
  if (!existsSync(config.dataDir)) {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    created.push('data/');
  }
  // The whole key set, whatever part of it another command made before.
  const keys = await ensureKeySet(config.certsDir, keySetOptions(config));
  const certsRel = relative(dir, config.certsDir);
  const shown = certsRel.startsWith('..') ? config.certsDir : certsRel;
  for (const f of keys.created) created.push(join(shown, f));
  return { dir, created };
}

export const command: Command = {
  name: 'init',
  summary: 'make keys, certificates, a config and the policy pack where missing (idempotent)',
  usage: `Usage: darwaza init [--dir DIR]

Makes, where missing (never overwriting anything):
  DIR/gateway.config.json   the demo configuration (LAN API 127.0.0.1:8080, MLLP :2575,
                            admin :9090, one destination national-telemed on the built-in simulator)
  DIR/policies/             the shipped Pakistan policy pack and de-identification profiles
  DIR/schemas/              JSON Schemas of the config and policy files
  DIR/data/                 the store (created on first start)
  DIR/certs/                gateway signing key, patient-token key, key-encryption key,
                            demo recipient keys (files 0600, folder 0700)

Options:
  --dir DIR       the folder to initialise (default: the current folder)
  --production    write policy.requireSigned: true: the gateway then refuses any policy pack
                  not signed by a key listed under policy.trustedSigners`,
  async run(args, io) {
    const { values } = parseFlags(args, { dir: { type: 'string' }, production: { type: 'boolean' } }, false);
    const dir = resolve(io.cwd, values.dir ?? '.');
    const result = await initFolder(dir, { production: values.production === true });
    if (result.created.length === 0) io.out(`darwaza init: ${dir} already has everything; nothing changed`);
    else {
      io.out(`darwaza init: initialised ${dir}`);
      for (const c of result.created.filter((c) => !c.startsWith('policies/') && !c.startsWith('schemas/'))) {
        const what = describeKeyFile(c);
        io.out(`  created ${c}${what ? ` (${what})` : ''}`);
      }
      const policyFiles = result.created.filter((c) => c.startsWith('policies/') || c.startsWith('schemas/')).length;
      if (policyFiles) io.out(`  created ${policyFiles} policy, profile and schema files`);
    }
    if (values.production && result.created.includes('gateway.config.json')) {
      io.out('  policy.requireSigned is true: add your policy-signing public key to policy.trustedSigners and sign the pack (darwaza policy sign)');
    }
    return EXIT.ok;
  },
};
