/**
 * Loading a policy from disk (a file, or a directory holding exactly one
 * *.policy.yaml|yml|json), with the signature check, and hot reload.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { compilePolicy } from './compile.js';
import { readPack } from './pack.js';
import { parseSignature, verifyPack } from './sign.js';
import { PolicyError, type CompiledPolicy, type RefusalCode } from './types.js';

export interface LoadOptions {
  /** Base64 Ed25519 public keys whose signatures are trusted. */
  trustedSigners?: string[];
  /** Refuse a policy without a valid signature by a trusted key. Default false. */
  requireSigned?: boolean;
}

export const POLICY_FILE = /\.policy\.(ya?ml|json)$/;

/** The policy file a path names: the file itself, or the one *.policy.* file in a directory. */
export async function resolvePolicyFile(pathOrDir: string): Promise<string> {
  let s;
  try {
    s = await stat(pathOrDir);
  } catch {
    throw new PolicyError(`policy path ${pathOrDir} does not exist`);
  }
  if (!s.isDirectory()) return pathOrDir;
  const names = (await readdir(pathOrDir)).filter((n) => POLICY_FILE.test(n)).sort();
  if (names.length !== 1) {
    throw new PolicyError(
      names.length === 0
        ? `no policy file (*.policy.yaml) in ${pathOrDir}`
        : `more than one policy file in ${pathOrDir} (${names.join(', ')}): name the file`,
    );
  }
  return join(pathOrDir, names[0]);
}

/**
 * Load a policy pack: the policy file, compiled, with the profile files it references
 * (policy.pack). With requireSigned (or trusted keys and a .sig present) the signature must
 * cover the whole pack: a changed byte in the policy or in any profile refuses it.
 */
export async function loadPolicy(pathOrDir: string, opts: LoadOptions = {}): Promise<CompiledPolicy> {
  const file = await resolvePolicyFile(pathOrDir);
  const name = basename(file);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new PolicyError(`cannot read policy ${file}: ${code}`, [], 'unreadable', `cannot read policy ${name} (${code})`);
  }
  const trusted = opts.trustedSigners ?? [];
  let sigText: string | undefined;
  try {
    sigText = await readFile(`${file}.sig`, 'utf8');
  } catch {
    sigText = undefined;
  }
  if (opts.requireSigned && !trusted.length) {
    throw new PolicyError(
      'policy.requireSigned is on but no trusted signer keys are configured (policy.trustedSigners): refusing every policy',
      [],
      'no-trusted-signers',
      'signed policies are required but no trusted signer keys are configured',
    );
  }
  if (sigText === undefined && opts.requireSigned) {
    throw new PolicyError(
      `policy ${file} is not signed (no ${name}.sig beside it) and signed policies are required: refusing it. Sign it with "darwaza policy sign --key KEY ${name}".`,
      [],
      'unsigned',
      `policy pack ${name} is not signed and signed policies are required`,
    );
  }
  const policy = compilePolicy(bytes.toString('utf8'), file);
  let pack;
  try {
    pack = await readPack(file, bytes, policy);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new PolicyError(`cannot read a profile file of policy ${file}: ${code}`, [], 'unreadable', `cannot read a profile file of policy pack ${name} (${code})`);
  }
  let signedBy: string | undefined;
  if (sigText !== undefined && (opts.requireSigned || trusted.length)) {
    let sig;
    try {
      sig = parseSignature(sigText);
    } catch (err) {
      throw new PolicyError(`policy ${file}: bad signature file: ${(err as Error).message}`, [], 'bad-signature', `policy pack ${name}: the signature file is not valid`);
    }
    const result = await verifyPack(pack, sig, trusted);
    if (!result.ok) {
      const code = /changed after it was signed|old format/.test(result.reason) ? 'tampered' : /trusted key/.test(result.reason) ? 'untrusted' : 'bad-signature';
      throw new PolicyError(`policy ${file} is refused: ${result.reason}`, [], code, `policy pack ${name} refused: ${result.reason}`);
    }
    signedBy = result.keyId;
  }
  return { ...policy, pack, ...(signedBy ? { signedBy } : {}) };
}

/** Why a policy was refused, fit for an audit entry: a short code and plain words without file content. */
export interface PolicyRefusal {
  code: RefusalCode;
  reason: string;
}

/** The PHI-free refusal of an error from loadPolicy (lint findings are reduced to their codes and lines). */
export function refusalOf(err: unknown): PolicyRefusal {
  if (err instanceof PolicyError) {
    if (err.reason) return { code: err.code, reason: err.reason };
    if (err.findings.length) {
      const f = err.findings;
      const files = [...new Set(f.map((x) => basename(x.file)))].join(', ');
      const where = f.slice(0, 5).map((x) => `${x.code} at line ${x.line}`).join(', ');
      return { code: 'invalid', reason: `policy ${files} has ${f.length} error${f.length === 1 ? '' : 's'} (${where}${f.length > 5 ? ', …' : ''})` };
    }
    return { code: err.code, reason: 'the policy was refused' };
  }
  return { code: 'other', reason: 'the policy could not be loaded' };
}

export interface PolicyWatcher {
  /** The last good policy (undefined until the first successful load). */
  current(): CompiledPolicy | undefined;
  /** Load now; on success switch atomically and report; on failure keep the last good one. */
  reload(): Promise<CompiledPolicy | undefined>;
  stop(): void;
}

export interface WatchOptions extends LoadOptions {
  /** The policy already in force (loaded by the caller); no change is reported for the same bytes. */
  initial?: CompiledPolicy;
  /** Reload on SIGHUP too. Default true. */
  sighup?: boolean;
  /** Wait this long after a file event before reloading (editors write in bursts). */
  debounceMs?: number;
}

export const DEFAULT_WATCH_DEBOUNCE_MS = 150;

/** The hash that names a loaded pack: the pack's (policy + profiles) when read from disk. */
const packHashOf = (p: CompiledPolicy) => p.pack?.sha256 ?? p.sha256;

/**
 * Watch a policy pack for changes (file events in the policy's folder and in its profiles'
 * folders, and SIGHUP). A new pack replaces the old one only when it loads, compiles and (if
 * required) verifies; otherwise onChange receives the error and its PHI-free refusal (for the
 * audit log), and the last good pack stays in force. A profile change alone is a new pack.
 */
export function watchPolicy(
  pathOrDir: string,
  opts: WatchOptions,
  onChange: (next: CompiledPolicy | Error, refusal?: PolicyRefusal) => void,
): PolicyWatcher {
  let current = opts.initial;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<CompiledPolicy | undefined> | undefined;
  let again = false;
  const watchers = new Map<string, FSWatcher>();

  const schedule = () => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), opts.debounceMs ?? DEFAULT_WATCH_DEBOUNCE_MS);
  };

  // Watch folders, not files: editors and `mv` replace a file, which a file watch would miss.
  const watchDir = (dir: string, quiet = false) => {
    if (stopped || watchers.has(dir)) return;
    try {
      const w = watch(dir, { persistent: false }, schedule);
      w.on('error', () => undefined);
      watchers.set(dir, w);
    } catch (err) {
      // A profile folder that does not exist is already in the pack as "missing"; SIGHUP reloads.
      if (quiet) return;
      onChange(
        new PolicyError(`cannot watch ${dir} for policy changes: ${(err as NodeJS.ErrnoException).code ?? 'error'}`),
        { code: 'other', reason: `cannot watch a policy pack folder for changes (${(err as NodeJS.ErrnoException).code ?? 'error'})` },
      );
    }
  };
  const watchProfiles = (p: CompiledPolicy | undefined) => {
    for (const f of p?.pack?.files ?? []) if (f.role !== 'policy') watchDir(dirname(f.path), true);
  };

  const reload = async (): Promise<CompiledPolicy | undefined> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          const next = await loadPolicy(pathOrDir, opts);
          if (stopped) return current;
          watchProfiles(next);
          if (!current || packHashOf(current) !== packHashOf(next) || current.signedBy !== next.signedBy) {
            current = next;
            onChange(next);
          }
        } catch (err) {
          if (!stopped) onChange(err instanceof Error ? err : new Error(String(err)), refusalOf(err));
        }
      } while (again && !stopped);
      return current;
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  void (async () => {
    let dir = pathOrDir;
    try {
      if (!(await stat(pathOrDir)).isDirectory()) dir = dirname(pathOrDir);
    } catch {
      dir = dirname(pathOrDir);
    }
    watchDir(dir);
    watchProfiles(current);
  })();
  const onHup = () => void reload();
  if (opts.sighup !== false) process.on('SIGHUP', onHup);
  if (!current) void reload();

  return {
    current: () => current,
    reload,
    stop() {
      stopped = true;
      clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
      if (opts.sighup !== false) process.off('SIGHUP', onHup);
    },
  };
}
