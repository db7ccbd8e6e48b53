/**
 * A FHIR Consent's provisions in plain words ("permits national-telemed, as recipient,
 * for treatment, from 1 Jan 2026 to 31 Dec 2030"). Pure; reads the resource as stored.
 */
const PURPOSE: Record<string, string> = {
  TREAT: 'treatment',
  ETREAT: 'emergency treatment',
  HPAYMT: 'payment',
  HOPERAT: 'hospital operations',
  PUBHLTH: 'public health',
  HRESCH: 'research',
  CLINTRCH: 'clinical research',
  HMARKT: 'marketing',
  PATRQT: "the patient's own request",
};
const ROLE: Record<string, string> = { IRCP: 'information recipient', PRCP: 'primary recipient', AUT: 'author', CST: 'custodian', INF: 'informant' };

type Coding = { system?: string; code?: string; display?: string };
type Provision = {
  type?: string;
  period?: { start?: string; end?: string };
  actor?: { role?: { coding?: Coding[] }; reference?: { reference?: string; display?: string } }[];
  purpose?: Coding[];
  class?: Coding[];
  code?: { coding?: Coding[] }[];
  securityLabel?: Coding[];
  dataPeriod?: { start?: string; end?: string };
  provision?: Provision[];
};

const day = (s?: string) => (s ? s.slice(0, 10) : undefined);
const codeText = (c: Coding) => c.display ?? c.code ?? '?';

function one(p: Provision, depth: number): string[] {
  const parts: string[] = [];
  const verb = p.type === 'deny' ? (depth === 0 ? 'Denies' : 'except: denies') : depth === 0 ? 'Permits' : 'and permits';
  parts.push(verb);
  const actors = (p.actor ?? []).map((a) => {
    const who = a.reference?.display ?? a.reference?.reference?.replace(/^Organization\//, '') ?? 'someone';
    const role = a.role?.coding?.map((c) => ROLE[c.code ?? ''] ?? codeText(c)).join('/');
    return role ? `${who} (as ${role})` : who;
  });
  parts.push(actors.length ? actors.join(', ') : 'any recipient');
  if (p.purpose?.length) parts.push(`for ${p.purpose.map((c) => PURPOSE[c.code ?? ''] ?? codeText(c)).join(', ')}`);
  else parts.push('for any purpose');
  const what = [...(p.class ?? []).map(codeText), ...(p.code ?? []).flatMap((c) => (c.coding ?? []).map(codeText)), ...(p.securityLabel ?? []).map((c) => `data labelled ${codeText(c)}`)];
  if (what.length) parts.push(`covering ${what.join(', ')}`);
  if (p.period?.start || p.period?.end) parts.push(`from ${day(p.period.start) ?? 'the start'} to ${day(p.period.end) ?? 'no end date'}`);
  if (p.dataPeriod?.start || p.dataPeriod?.end) parts.push(`for data dated ${day(p.dataPeriod.start) ?? 'any time'} to ${day(p.dataPeriod.end) ?? 'now'}`);
  const lines = [parts.join(' ')];
  for (const child of p.provision ?? []) lines.push(...one(child, depth + 1).map((l) => `  ${l}`));
  return lines;
}

export function provisionWords(resource: Record<string, unknown>): string[] {
  const p = resource.provision as Provision | undefined;
  if (!p) return ['No provisions: the consent says nothing about who may receive what.'];
  return one(p, 0);
}
