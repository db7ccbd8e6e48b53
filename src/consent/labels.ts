/**
 * Sensitive data categories and the FHIR sensitivity codes (v3-ActCode) that name them.
 * A consent provision "names" a category when its securityLabel, class or code carries
 * one of these codes, or the category's own name (e.g. "mental-health").
 */
import type { Category, Coding } from '../model/index.js';
import { CATEGORIES } from '../model/index.js';

/** Category → sensitivity codes; the first is the canonical label. */
export const CATEGORY_CODES: Readonly<Record<Category, readonly string[]>> = {
  'mental-health': ['PSY', 'BH', 'MH', 'PSYTHPN'],
  'substance-use': ['ETH', 'SUD', 'ETHUD', 'OPIOIDUD', 'ALCUD'],
  'hiv-sti': ['HIV', 'STD'],
  'sexual-reproductive': ['SEX'],
  violence: ['SDV'],
  genetics: ['GDIS'],
};

const CODE_TO_CATEGORY = new Map<string, Category>();
for (const cat of CATEGORIES) {
  CODE_TO_CATEGORY.set(cat, cat);
  for (const code of CATEGORY_CODES[cat]) CODE_TO_CATEGORY.set(code, cat);
}

/** The category a code names (a sensitivity code or the category name), else undefined. */
export function categoryOfCode(code: string | undefined): Category | undefined {
  return code === undefined ? undefined : CODE_TO_CATEGORY.get(code);
}

/** Categories implied by a message's labels (e.g. a PSY label implies mental-health). */
export function categoriesOfLabels(labels: readonly Coding[]): Category[] {
  const out: Category[] = [];
  for (const l of labels) {
    const c = categoryOfCode(l.code);
    if (c && !out.includes(c)) out.push(c);
  }
  return out;
}
