/**
 * Routing: which configured destinations a message goes to. Pure. Routes are data
 * (gateway.config.json `routes`); a route matches when every criterion it states
 * matches; the destinations of all matching routes are united.
 */
import type { PurposeOfUse, SourceFormat } from '../model/index.js';
import type { Route } from '../config/index.js';

export interface RouteInput {
  format: SourceFormat;
  purpose: PurposeOfUse;
  resourceTypes: string[];
  source: string;
  /** HL7 v2 MSH-9 (e.g. "ADT^A01"), for v2 input. */
  messageType?: string;
}

export interface RouteResult {
  destinations: string[];
  /** Names of the routes that matched (for explanations). */
  routes: string[];
  /** True when a matching route carries unmapped v2 as opaque text. */
  opaque: boolean;
  /** Destinations reached through a matching route marked opaque. */
  opaqueDestinations: string[];
}

const hits = <T>(wanted: readonly T[] | undefined, actual: T) => !wanted || wanted.length === 0 || wanted.includes(actual);

export function route(routes: readonly Route[], input: RouteInput): RouteResult {
  const destinations = new Set<string>();
  const matched: string[] = [];
  let opaque = false;
  const opaqueDestinations = new Set<string>();
  for (const r of routes) {
    const m = r.match ?? {};
    if (!hits(m.format, input.format)) continue;
    if (!hits(m.purpose, input.purpose)) continue;
    if (!hits(m.source, input.source)) continue;
    if (m.messageType?.length && !(input.messageType && m.messageType.includes(input.messageType))) continue;
    if (m.resourceTypes?.length && !input.resourceTypes.some((t) => m.resourceTypes!.includes(t))) continue;
    matched.push(r.name);
    if (r.opaque) opaque = true;
    for (const d of r.destinations) {
      destinations.add(d);
      if (r.opaque) opaqueDestinations.add(d);
    }
  }
  return { destinations: [...destinations], routes: matched, opaque, opaqueDestinations: [...opaqueDestinations] };
}
