/**
 * A policy pack: the policy file and the de-identification profile files it references,
 * hashed as one manifest so that one signature covers them all. The manifest (canonical
 * text, LF line ends) is:
 *
 *   darwaza-pack 1
 *   policy pk.policy.yaml <sha256 of the policy's canonical bytes>
 *   profile pk-research ../profiles/pk-research.yaml <sha256 | missing>
 *   profile safe-harbor ../profiles/safe-harbor.json <sha256 | missing>
 *
 * Profiles in name order; paths relative to the policy file's folder, with "/". The pack's
 * hash is the sha256 of these bytes, and `darwaza policy sign` signs exactly them.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, relative, resolve } from 'node:path';
import { canonicalBytes, sha256Hex } from './parse.js';
import type { CompiledPolicy, PackFile, PolicyPack } from './types.js';

export const PACK_FORMAT = 'darwaza-pack 1';

/** Where a profile's file is looked for when the policy names none (the layout `darwaza init` writes). */
const DEFAULT_PROFILE_EXTS = ['.yaml', '.yml', '.json'];

async function readOrUndefined(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

const rel = (from: string, to: string) => relative(from, to).split('\\').join('/');

/**
 * Read the profile files a compiled policy references and hash the whole pack. A missing
 * profile file is recorded as "missing" (decisions that name it fail closed); it is not an
 * error here, so an unsigned demo keeps serving what does not need it.
 */
export async function readPack(policyFile: string, policyBytes: Uint8Array, policy: Pick<CompiledPolicy, 'sanitizeProfiles'>): Promise<PolicyPack> {
  const dir = dirname(resolve(policyFile));
  const files: PackFile[] = [{ role: 'policy', path: resolve(policyFile), sha256: sha256Hex(canonicalBytes(policyBytes)) }];
  const lines = [PACK_FORMAT, `policy ${basename(policyFile)} ${files[0].sha256}`];
  const profileLines: string[] = [];
  const profiles: PolicyPack['profiles'] = {};
  const missingProfiles: string[] = [];
  for (const name of Object.keys(policy.sanitizeProfiles).sort()) {
    const declared = policy.sanitizeProfiles[name].file;
    const candidates = declared ? [resolve(dir, declared)] : DEFAULT_PROFILE_EXTS.map((e) => resolve(dir, '..', 'profiles', `${name}${e}`));
    let path = candidates[0];
    let bytes: Buffer | undefined;
    for (const c of candidates) {
      bytes = await readOrUndefined(c);
      if (bytes) {
        path = c;
        break;
      }
    }
    const sha = bytes ? sha256Hex(canonicalBytes(bytes)) : null;
    files.push({ role: `profile:${name}`, path, sha256: sha });
    profileLines.push(`profile ${name} ${rel(dir, path)} ${sha ?? 'missing'}`);
    if (bytes && sha) profiles[name] = { file: path, sha256: sha, text: canonicalBytes(bytes).toString('utf8') };
    else missingProfiles.push(name);
  }
  lines.push(...profileLines);
  const manifest = lines.join('\n') + '\n';
  return {
    sha256: sha256Hex(Buffer.from(manifest, 'utf8')),
    profilesSha256: sha256Hex(Buffer.from(profileLines.map((l) => l + '\n').join(''), 'utf8')),
    manifest,
    files,
    profiles,
    missingProfiles,
  };
}
