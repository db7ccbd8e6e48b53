/**
 * `darwaza sanitize` — apply a de-identification profile to a sample resource, for
 * privacy officers checking a profile: print the result, or what changed element by
 * element (--diff), or only where and how (--changes, no values).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { loadConfig } from '../../config/index.js';
import { loadOrCreateKeyStore } from '../../crypto/index.js';
import type { FhirResource } from '../../model/index.js';
import { diff, formatDiff, loadProfile, type CompiledProfile, type SanitizeKeys } from '../../sanitize/index.js';
import { EXIT, UsageError, parseFlags, type CliIo, type Command } from '../command.js';

const USAGE = `darwaza sanitize --profile P [key options] [--diff | --changes] [--compact] FILE|-

Applies de-identification profile P to the FHIR resource or Bundle in FILE (or stdin: -)
and prints the result. P is a profile name from policies/profiles (pk-research,
safe-harbor) or a path to a .json/.yaml profile file.

Options:
  --profile P            profile name or file (required)
  --profiles-dir DIR     where profile names are looked up (default: policies/profiles)
  --diff                 print what changed, element by element (- removed, + added, ~ changed)
  --changes              print only where and how it changed (no values)
  --compact              print JSON on one line

Key options (profiles that hash, date-shift or encrypt need keys). A profile file with literal
keys (parameters.dateShiftKey, cryptoHashKey, encryptKey, as Microsoft's anonymizer
configurations have) runs here with a warning, and the keys below override them; the
gateway refuses such a profile (its keys come from its key store, one set per destination).
  --keys FILE            JSON {"dateShiftKey": "...", "cryptoHashKey": "...", "encryptKey": "..."}
                         (strings, used as UTF-8 bytes as in Microsoft's format; encryptKey
                         must be 16, 24 or 32 bytes)
  --key-from-config      the keys the gateway holds for --destination NAME: the config's certsDir,
                         certs/deid/NAME.json (made by darwaza init or the gateway; never made here)
  --config FILE          gateway config for --key-from-config (default: gateway.config.json)
  --destination NAME     whose keys to use with --key-from-config
  --ephemeral-keys       random keys for this run only (pseudonyms differ on every run)

Exit codes: 0 ok, 1 the profile could not be applied, 2 usage error, 3 bad profile or input file.`;

/** Where `--key-from-config` gets keys; the gateway wires its key store in here. */
export type KeysFromConfig = (args: { config: string; destination?: string; io: CliIo }) => Promise<SanitizeKeys>;

export interface SanitizeCommandOptions {
  keysFromConfig?: KeysFromConfig;
}

class InputError extends Error {}

const abs = (io: CliIo, p: string) => (isAbsolute(p) ? p : resolve(io.cwd, p));
const looksLikePath = (p: string) => /[\\/]/.test(p) || /\.(json|ya?ml)$/i.test(p);

async function readKeysFile(io: CliIo, file: string): Promise<SanitizeKeys> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(abs(io, file), 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`--keys ${file}: ${code ? `cannot read (${code})` : 'not valid JSON'}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new InputError(`--keys ${file}: expected an object of keys`);
  const keys: SanitizeKeys = {};
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (k !== 'dateShiftKey' && k !== 'cryptoHashKey' && k !== 'encryptKey') throw new InputError(`--keys ${file}: unknown key name "${k}"`);
    if (typeof v !== 'string' || v === '') throw new InputError(`--keys ${file}: ${k} must be a non-empty string`);
    keys[k] = v;
  }
  return keys;
}

/**
 * The gateway's own keys for a destination: gateway config → certsDir → key store → deidKeys.
 * Refuses a destination the config does not name, and a gateway home without a key store
 * (it never makes one: run `darwaza init` or start the gateway first).
 */
export const keysFromGatewayConfig: KeysFromConfig = async ({ config, destination, io }) => {
  if (!destination) throw new UsageError('--key-from-config needs --destination NAME (each destination has its own keys)');
  const cfg = loadConfig(abs(io, config));
  if (!cfg.destinations.some((d) => d.name === destination)) {
    throw new InputError(`${config}: no destination "${destination}" (known: ${cfg.destinations.map((d) => d.name).join(', ') || 'none'})`);
  }
  if (!existsSync(join(cfg.certsDir, 'deid'))) {
    throw new InputError(`${cfg.certsDir}: no de-identification keys yet (run darwaza init or start the gateway first)`);
  }
  const store = await loadOrCreateKeyStore(cfg.certsDir);
  return store.deidKeys(destination);
};

export function createSanitizeCommand(options: SanitizeCommandOptions = { keysFromConfig: keysFromGatewayConfig }): Command {
  async function run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseFlags(args, {
      profile: { type: 'string' },
      'profiles-dir': { type: 'string' },
      keys: { type: 'string' },
      'key-from-config': { type: 'boolean' },
      config: { type: 'string' },
      destination: { type: 'string' },
      'ephemeral-keys': { type: 'boolean' },
      diff: { type: 'boolean' },
      changes: { type: 'boolean' },
      compact: { type: 'boolean' },
    });
    if (!values.profile) throw new UsageError('sanitize needs --profile NAME|FILE');
    if (positionals.length !== 1) throw new UsageError('sanitize needs one FILE (or - for stdin)');
    const keySources = [values.keys, values['key-from-config'], values['ephemeral-keys']].filter(Boolean).length;
    if (keySources > 1) throw new UsageError('use one of --keys, --key-from-config, --ephemeral-keys');

    let keys: SanitizeKeys | undefined;
    if (values.keys) keys = await readKeysFile(io, values.keys);
    else if (values['ephemeral-keys']) {
      keys = { dateShiftKey: randomBytes(32), cryptoHashKey: randomBytes(32), encryptKey: randomBytes(32) };
    } else if (values['key-from-config']) {
      if (!options.keysFromConfig) throw new UsageError('--key-from-config is not available in this build; use --keys FILE');
      keys = await options.keysFromConfig({ config: values.config ?? 'gateway.config.json', destination: values.destination, io });
    }

    const profilePath = looksLikePath(values.profile)
      ? abs(io, values.profile)
      : await findProfile(io, values['profiles-dir'] ?? 'policies/profiles', values.profile);
    // Literal keys are accepted here, so a Microsoft anonymizer configuration runs unchanged;
    // the gateway's own loader still refuses them (its keys come from the key store).
    const profile = await loadProfile(profilePath, { allowLiteralKeys: true });
    const literal = literalKeysOf(profile);
    if (literal.length) {
      const use = keys ? `ignored: the keys given with ${values.keys ? '--keys' : values['ephemeral-keys'] ? '--ephemeral-keys' : '--key-from-config'} are used instead` : 'used for this run';
      io.err(
        `warning: profile ${profile.name} holds literal keys (${literal.map((k) => `parameters.${k}`).join(', ')}), ${use}. ` +
          'The gateway will not accept this profile as it is: remove the keys; the gateway takes each destination\'s keys from its key store.',
      );
    }
    const missing = profile.needsKeys.filter((k) => !keys?.[k] && !literal.includes(k));
    if (missing.length && !keys) {
      throw new UsageError(`profile ${profile.name} needs ${missing.join(', ')}: give --keys FILE, --key-from-config or --ephemeral-keys`);
    }
    const bound = keys ? profile.withKeys(keys) : profile;

    const file = positionals[0];
    let text: string;
    try {
      text = file === '-' ? await io.readStdin() : await readFile(abs(io, file), 'utf8');
    } catch (err) {
      throw new InputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    let input: FhirResource;
    try {
      input = JSON.parse(text.replace(/^\uFEFF/, '')) as FhirResource;
    } catch {
      throw new InputError(`${file}: not valid JSON`);
    }
    const result = bound.apply(input);
    if (values.diff) {
      for (const line of formatDiff(diff(input, result.resource))) io.out(line);
    } else if (values.changes) {
      for (const c of result.changes) io.out(`${c.path}\t${c.method}\t${c.operation}`);
    } else {
      io.out(values.compact ? JSON.stringify(result.resource) : JSON.stringify(result.resource, null, 2));
    }
    if (result.skipped) io.err(`profile ${profile.name} could not be applied; the output is an empty, REDACTED-labelled ${input.resourceType}`);
    return EXIT.ok;
  }

  return {
    name: 'sanitize',
    summary: 'apply a de-identification profile to a sample resource (print, --diff, --changes)',
    usage: USAGE,
    async run(args, io) {
      if (args.includes('--help') || args.includes('-h')) {
        io.out(USAGE);
        return EXIT.ok;
      }
      try {
        return await run(args, io);
      } catch (err) {
        const e = err as Error;
        if (err instanceof UsageError) {
          io.err(e.message);
          io.err(USAGE);
          return EXIT.usage;
        }
        if (err instanceof InputError || e.name === 'ProfileError' || e.name === 'InvalidInputError' || e.name === 'ConfigError') {
          io.err(e.message);
          return EXIT.badInput;
        }
        if (e.name === 'SanitizeError') {
          io.err(e.message);
          return EXIT.failed;
        }
        io.err(`sanitize failed: ${e.message}`);
        return EXIT.runtime;
      }
    },
  };
}

/** The key names a profile file writes literally (Microsoft's configurations carry them). */
function literalKeysOf(profile: CompiledProfile): Array<keyof SanitizeKeys> {
  const p = profile.spec.parameters;
  return (['dateShiftKey', 'cryptoHashKey', 'encryptKey'] as const).filter((k) => typeof p[k] === 'string' && p[k] !== '');
}

async function findProfile(io: CliIo, dir: string, name: string): Promise<string> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new UsageError(`--profile ${JSON.stringify(name)} is not a profile name`);
  for (const ext of ['.yaml', '.yml', '.json']) {
    const p = abs(io, join(dir, name + ext));
    try {
      await readFile(p);
      return p;
    } catch {
      // next extension
    }
  }
  throw new InputError(`no profile "${name}" in ${dir} (looked for ${name}.yaml, .yml, .json)`);
}

export const command: Command = createSanitizeCommand();
