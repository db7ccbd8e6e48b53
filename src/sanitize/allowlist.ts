/**
 * Allow-list mode: what the profile does not keep does not leave.
 *
 * A rule's method reaches the element it matched and everything below it, but in allow-list
 * mode that reach stops at places where a sender can put anything: extensions
 * (modifierExtension and `_x` extensions of primitives too), narrative, attachments. Those
 * stay only when a rule matches them itself. Elements that are not FHIR (no type in the R4
 * model: `hospitalPatientName`, `contactPersonX.nameText`) never stay, whatever matched them.
 * After the rules, every primitive value that no rule reached is removed; emptied elements
 * are then pruned like any redacted one.
 */
import { getValue, setValue, type Node, type ResourceNode } from './model.js';

/** Types a rule on an ancestor does not keep: only a rule matching them directly does. */
export const GUARDED_TYPES: ReadonlySet<string> = new Set(['Extension', 'Narrative', 'Attachment', 'xhtml']);

/** May `n` be kept when a rule reaches it (`direct`: the rule matched it, not an ancestor)? */
export function mayKeep(n: Node, direct: boolean): boolean {
  if (n.fpType === null) return false; // not FHIR: unknown to the model, never kept
  return direct || !GUARDED_TYPES.has(n.type);
}

/**
 * True when `n` sits inside an extension, narrative or attachment that no rule matched itself,
 * or inside an element that is not FHIR: a type-wide rule (`nodesByType('code')`) keeping
 * `n` does not keep what a sender put there.
 */
function insideUnkept(n: Node, reached: ReadonlySet<Node>): boolean {
  for (let p = n.parent; p !== null && p !== n.res; p = p.parent) {
    if ((GUARDED_TYPES.has(p.type) || p.fpType === null) && !reached.has(p)) return true;
  }
  return false;
}

/**
 * Removes every primitive value of `res` (and the resources inside it) that is not in
 * `reached`. Calls `removed` for each. Resources themselves stay (their emptied elements go).
 */
export function removeUnreached(res: ResourceNode, reached: ReadonlySet<Node>, removed: (n: Node) => void): void {
  for (const list of res.byType.values()) {
    for (const n of list) {
      if (!n.primitive || (reached.has(n) && !insideUnkept(n, reached))) continue;
      const v = getValue(n);
      if (v === null || v === undefined) continue;
      setValue(n, null);
      removed(n);
    }
  }
  for (const sub of res.subResources) removeUnreached(sub, reached, removed);
}
