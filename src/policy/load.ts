/**
 * Loading a policy from disk (a file, or a directory holding exactly one
 * *.policy.yaml|yml|json), with the signature check, and hot reload.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { compilePolicy } from './compile.js';
import { parseSignature, verifyPolicy } from './sign.js';
import { PolicyError, type CompiledPolicy } from './types.js';

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

export async function loadPolicy(pathOrDir: string, opts: LoadOptions = {}): Promise<CompiledPolicy> {
  const file = await resolvePolicyFile(pathOrDir);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new PolicyError(`cannot read policy ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const trusted = opts.trustedSigners ?? [];
  let sigText: string | undefined;
  try {
    sigText = await readFile(`${file}.sig`, 'utf8');
  } catch {
    sigText = undefined;
  }
  let signedBy: string | undefined;
  if (opts.requireSigned && !trusted.length) {
    throw new PolicyError('policy.requireSigned is on but no trusted signer keys are configured (policy.trustedSigners): refusing every policy');
  }
  if (sigText === undefined) {
    if (opts.requireSigned) {
      throw new PolicyError(`policy ${file} is not signed (no ${basename(file)}.sig beside it) and signed policies are required: refusing it. Sign it with "darwaza policy sign --key KEY ${basename(file)}".`);
    }
  } else if (opts.requireSigned || trusted.length) {
    let result;
    try {
      result = await verifyPolicy(bytes, parseSignature(sigText), trusted);
    } catch (err) {
      throw new PolicyError(`policy ${file}: bad signature file: ${(err as Error).message}`);
    }
    if (!result.ok) throw new PolicyError(`policy ${file} is refused: ${result.reason}`);
    signedBy = result.keyId;
  }
  const policy = compilePolicy(bytes.toString('utf8'), file);
  return signedBy ? { ...policy, signedBy } : policy;
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

/**
 * Watch a policy for changes (file events in its directory, and SIGHUP). A new policy
 * replaces the old one only when it loads, compiles and (if required) verifies; otherwise
 * onChange receives the error and the last good policy stays in force.
 */
export function watchPolicy(
  pathOrDir: string,
  opts: WatchOptions,
  onChange: (next: CompiledPolicy | Error) => void,
): PolicyWatcher {
  let current = opts.initial;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<CompiledPolicy | undefined> | undefined;
  let again = false;

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
          if (!current || current.sha256 !== next.sha256 || current.signedBy !== next.signedBy) {
            current = next;
            onChange(next);
          }
        } catch (err) {
          if (!stopped) onChange(err instanceof Error ? err : new Error(String(err)));
        }
      } while (again && !stopped);
      return current;
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = () => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), opts.debounceMs ?? DEFAULT_WATCH_DEBOUNCE_MS);
  };

  // Watch the directory: editors and `mv` replace the file, which a file watch would miss.
  let watcher: FSWatcher | undefined;
  void (async () => {
    let dir = pathOrDir;
    try {
      if (!(await stat(pathOrDir)).isDirectory()) dir = dirname(pathOrDir);
    } catch {
      dir = dirname(pathOrDir);
    }
    if (stopped) return;
    try {
      watcher = watch(dir, { persistent: false }, schedule);
      watcher.on('error', () => undefined);
    } catch (err) {
      onChange(new PolicyError(`cannot watch ${dir} for policy changes: ${(err as NodeJS.ErrnoException).code ?? 'error'}`));
    }
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
      watcher?.close();
      if (opts.sighup !== false) process.off('SIGHUP', onHup);
    },
  };
}
