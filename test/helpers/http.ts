/** HTTP helpers for end-to-end tests against a running gateway on loopback. */

export const FHIR_JSON = { 'content-type': 'application/fhir+json' };
/** Asks a submission for darwaza's own decision JSON (`{ id, destinations[], entries? }`) instead of FHIR. */
export const DECISION_JSON = { accept: 'application/vnd.darwaza.decision+json' };
/** A FHIR JSON body, answered with the decision JSON: what the tests that read decisions send. */
export const FHIR_DECISION = { ...FHIR_JSON, ...DECISION_JSON };

export interface Posted {
  status: number;
  headers: Headers;
  /** The body as text. */
  text: string;
  /** The body parsed as JSON (undefined when empty). */
  body: any;
}

/**
 * POSTs `body` (JSON-encoded unless already a string) as FHIR JSON to
 * http://127.0.0.1:<port><path>, asking for the decision JSON; `headers` add to or
 * override the content type and the Accept (send `accept: 'application/fhir+json'` for FHIR answers).
 */
export async function post(port: number, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Posted> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { ...FHIR_DECISION, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, body: text ? JSON.parse(text) : undefined };
}
