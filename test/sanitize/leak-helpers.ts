/**
 * The leak scanner: every identifying value of an input, collected independently of
 * the engine (a plain JSON walk, no FHIR model), then looked for in the output.
 */

export interface Collected {
  values: Set<string>;
  /** Values left out because they are 1–2 characters (they occur everywhere: "M", "WA", "1"). */
  skippedShort: number;
}

// Whole tokens only (not inside a UUID, a hash or a longer number).
const CNIC_LIKE = /(?<![\w-])\d{5}-?\d{7}-?\d(?![\w-])/g;
const PHONE_LIKE = /(?<![\w+])(?:(?:\+|00)92[\s-]?\d[\d\s-]{8,13}\d|03\d{2}[\s-]?\d{7}|\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4})(?![\w-])/g;
const EXACT_DATE = /^(\d{4}-\d{2}-\d{2})/;
const DATE_KEYS = /(date|Date|DateTime|Instant|start|end|issued|recorded|created|authoredOn|occurrenceDateTime|effectiveDateTime|onsetDateTime|abatementDateTime|lastUpdated|timestamp|birthDate|started|period)$/;

/** What counts as identifying in FHIR JSON, found by element names. */
export function collectIdentifying(input: unknown): Collected {
  const values = new Set<string>();
  let skippedShort = 0;
  const add = (v: unknown) => {
    if (typeof v !== 'string' && typeof v !== 'number') return;
    const s = String(v).trim();
    if (s.length <= 2) {
      skippedShort++;
      return;
    }
    values.add(s);
  };
  const walk = (node: unknown, key: string, parentKey: string, parent: Record<string, unknown> | null) => {
    if (Array.isArray(node)) {
      for (const x of node) walk(x, key, parentKey, parent);
      return;
    }
    if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      // names
      if (key === 'name' || key === 'valueHumanName' || (parentKey === 'contact' && key === 'name')) {
        for (const k of ['family', 'given', 'text']) for (const v of [o[k]].flat()) add(v);
      }
      // identifiers, telecoms
      if (key === 'identifier' || key === 'valueIdentifier' || key === 'masterIdentifier') add(o.value);
      if (key === 'telecom' || key === 'valueContactPoint') add(o.value);
      // addresses below district
      if (key === 'address' || key === 'valueAddress') {
        for (const v of [o.line].flat()) add(v);
        add(o.text);
        add(o.postalCode);
        if (typeof o.city === 'string' && o.city !== o.district) add(o.city);
      }
      if (o.resourceType === 'Patient') add(o.id);
      if (typeof o.url === 'string' && /maidenname/i.test(o.url)) add(o.valueString);
      for (const [k, v] of Object.entries(o)) walk(v, k, key, o);
      return;
    }
    if (typeof node === 'string') {
      if (DATE_KEYS.test(key)) {
        const m = EXACT_DATE.exec(node);
        if (m) add(m[1]);
      }
      for (const m of node.matchAll(CNIC_LIKE)) add(m[0]);
      for (const m of node.matchAll(PHONE_LIKE)) add(m[0]);
      if (key === 'fullUrl' && parent && (parent.resource as Record<string, unknown> | undefined)?.resourceType === 'Patient') add(node);
    }
  };
  walk(input, '', '', null);
  return { values, skippedShort };
}

/**
 * The output as one lower-case string to search, with the tokens we made ourselves masked:
 * HMAC-SHA256 hex digests (64 hex digits: pseudonyms, not input) and the Provenance's own new id.
 */
export function haystackOf(output: unknown): string {
  let json = JSON.stringify(output);
  const prov = (output as { entry?: Array<{ resource?: { resourceType?: string; id?: string } }> }).entry?.find(
    (e) => e.resource?.resourceType === 'Provenance' && /darwaza/.test(JSON.stringify(e.resource)),
  );
  if (prov?.resource?.id) json = json.split(prov.resource.id).join('#');
  return json.replace(/[0-9a-f]{64}/gi, '#').toLowerCase();
}

/**
 * Purely numeric values shorter than 6 digits (Synthea's 3-digit NPIs, "410") occur as substrings
 * of any SNOMED/LOINC code or amount, so they count only as whole tokens; everything else is a
 * plain case-insensitive substring search.
 */
export function found(hay: string, value: string): boolean {
  const v = value.toLowerCase();
  if (/^\d{1,5}$/.test(v)) return new RegExp(`(?<![0-9a-z.])${v}(?![0-9a-z])`).test(hay);
  return hay.includes(v);
}

export function leaks(input: unknown, output: unknown): { leaked: string[]; checked: number; skippedShort: number } {
  const { values, skippedShort } = collectIdentifying(input);
  const hay = haystackOf(output);
  const leaked = [...values].filter((v) => found(hay, v));
  return { leaked, checked: values.size, skippedShort };
}
