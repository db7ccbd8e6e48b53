/**
 * Profiles as files: JSON (Microsoft's format) or YAML (our own), compiled once.
 * Errors name the file (and, from compileProfile, the rule and field).
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import YAML from 'yaml';
import { compileProfile, type CompiledProfile, type CompileOptions } from './engine.js';
import { ProfileError } from './profile.js';

export type LoadOptions = Omit<CompileOptions, 'name'> & { name?: string };

const EXTS = new Set(['.json', '.yaml', '.yml']);

export function parseProfileText(text: string, file: string): object {
  const ext = extname(file).toLowerCase();
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let doc: unknown;
  try {
    doc = ext === '.json' ? JSON.parse(body) : YAML.parse(body, { uniqueKeys: true });
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not an object');
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : 'unreadable';
    throw new ProfileError(`profile file ${file}: cannot parse ${ext === '.json' ? 'JSON' : 'YAML'} (${why})`);
  }
  if (ext === '.json') {
    // JSON.parse keeps the last of two equal keys: {"method": "redact", "method": "keep"} would
    // read as keep while a reviewer reads redact. Refused, as Microsoft's loader does.
    const dup = firstDuplicateKey(body);
    if (dup) throw new ProfileError(`profile file ${file}: key "${dup.key}" appears twice in one object (line ${dup.line})`);
  }
  return doc as object;
}

/** The first key that appears twice in one JSON object, if any (the text is valid JSON). */
export function firstDuplicateKey(text: string): { key: string; line: number } | null {
  const stack: Array<Set<string> | null> = [];
  let line = 1;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    else if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectKey = false;
    } else if (c === ',') expectKey = stack[stack.length - 1] !== null && stack.length > 0;
    else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        const keys = stack[stack.length - 1]!;
        if (keys.has(key)) return { key, line };
        keys.add(key);
        expectKey = false;
      }
      i = j;
    }
  }
  return null;
}

/** The profile's name: its file base name (`policies/profiles/pk-research.yaml` → `pk-research`). */
export const profileNameOf = (file: string) => basename(file, extname(file));

export async function loadProfile(path: string, opts: LoadOptions = {}): Promise<CompiledProfile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ProfileError(`profile file ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const doc = parseProfileText(text, path);
  const name = opts.name ?? profileNameOf(path);
  try {
    return compileProfile(doc, { ...opts, name });
  } catch (err) {
    if (err instanceof ProfileError) throw new ProfileError(`${path}: ${err.message}`);
    throw err;
  }
}

/** Every policies/profiles/*.json|yaml|yml, by base name. Two files with one name are an error. */
export async function loadProfiles(dir: string, opts: Omit<LoadOptions, 'name'> = {}): Promise<Map<string, CompiledProfile>> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => EXTS.has(extname(f).toLowerCase())).sort();
  } catch (err) {
    throw new ProfileError(`profile directory ${dir}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const out = new Map<string, CompiledProfile>();
  for (const f of files) {
    const name = profileNameOf(f);
    if (out.has(name)) throw new ProfileError(`profile directory ${dir}: two files define profile "${name}"`);
    out.set(name, await loadProfile(join(dir, f), { ...opts, name }));
  }
  return out;
}
