/**
 * The one way to reach libsodium. We load the sumo build (it has crypto_pwhash/Argon2id
 * and HMAC-SHA256) through require: its 0.7 ESM entry points at a file the package
 * does not ship (ERR_MODULE_NOT_FOUND), while the CommonJS build is complete.
 */
import { createRequire } from 'node:module';
import type * as Sodium from 'libsodium-wrappers-sumo';

export type SodiumLib = typeof Sodium;

let loaded: SodiumLib | undefined;

/** Resolves once libsodium's WASM is initialised; cheap after the first call. */
export async function getSodium(): Promise<SodiumLib> {
  if (loaded) return loaded;
  // The literal require() lets esbuild bundle the library into the single binary;
  // under ESM (tests, tsx) there is no global require, so we make one.
  const sodium = (
    typeof require === 'function' ? require('libsodium-wrappers-sumo') : createRequire(import.meta.url)('libsodium-wrappers-sumo')
  ) as SodiumLib;
  await sodium.ready;
  loaded = sodium;
  return sodium;
}

/** For synchronous hot paths after start-up: throws if getSodium() was never awaited. */
export function sodiumSync(): SodiumLib {
  if (!loaded) throw new Error('libsodium is not initialised: await getSodium() at start-up');
  return loaded;
}
