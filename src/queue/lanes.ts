/**
 * Priority lanes on the link (strict): emergency (ETREAT) > treatment > public health >
 * research/bulk. The store keeps all four (storedLaneOf: 0..3, claimed in (lane, seq) order);
 * the port still speaks of emergency/normal, and the finer lane of a normal row comes from its
 * purpose of use, by which the dispatcher also orders what it claimed. Time windows keep a lane (e.g. research) to the night hours of a link.
 * Pure functions: a value with its reason.
 */
export const LINK_LANES = ['emergency', 'treatment', 'public-health', 'research'] as const;
export type LinkLane = (typeof LINK_LANES)[number];

const BY_PURPOSE: Record<string, LinkLane> = {
  ETREAT: 'emergency',
  BTG: 'emergency',
  TREAT: 'treatment',
  CAREMGT: 'treatment',
  COC: 'treatment',
  PATRQT: 'treatment',
  FAMRQT: 'treatment',
  PUBHLTH: 'public-health',
  POPHLTH: 'public-health',
};

/** The link lane of a purpose of use; anything not listed (research, payment, training…) is bulk. */
export function laneOfPurpose(purpose: string | undefined): LinkLane {
  return (purpose && BY_PURPOSE[purpose]) || 'research';
}

/** The link lane of a claimed row: the store's emergency lane wins, else its context's purpose. */
export function laneOfItem(item: { lane: 'emergency' | 'normal'; context: string }): LinkLane {
  if (item.lane === 'emergency') return 'emergency';
  let purpose: unknown;
  try {
    purpose = (JSON.parse(item.context) as { purpose?: unknown }).purpose;
  } catch {
    purpose = undefined;
  }
  const lane = laneOfPurpose(typeof purpose === 'string' ? purpose : undefined);
  // A normal-lane row is never promoted to emergency by its context.
  return lane === 'emergency' ? 'treatment' : lane;
}

export const laneRank = (lane: LinkLane): number => LINK_LANES.indexOf(lane);

/** The lane number a store keeps for a row (0 emergency … 3 research/bulk): claims go in (lane, seq) order. */
export const storedLaneOf = (item: { lane: 'emergency' | 'normal'; context: string }): number => laneRank(laneOfItem(item));

/** Stable sort by lane (enqueue order kept within a lane). */
export function orderByLane<T>(items: readonly T[], laneOf: (item: T) => LinkLane): T[] {
  return items
    .map((item, i) => ({ item, i, r: laneRank(laneOf(item)) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.item);
}

export interface DailyWindow {
  /** "HH:MM" local time; from > to wraps midnight (22:00–06:00). from === to is all day. */
  from: string;
  to: string;
}

export type WindowVerdict = { open: true; reason: string } | { open: false; opensAt: number; reason: string };

const minutesOf = (hhmm: string): number => {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm);
  if (!m) throw new RangeError(`"${hhmm}" is not HH:MM`);
  return Number(m[1]) * 60 + Number(m[2]);
};

/** Minutes since local midnight (and the seconds/ms within that minute) of an instant in a time zone. */
function localClock(now: number, timeZone: string): { minute: number; msIntoMinute: number } {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(now));
  const h = Number(parts.find((p) => p.type === 'hour')?.value);
  const m = Number(parts.find((p) => p.type === 'minute')?.value);
  return { minute: h * 60 + m, msIntoMinute: now % 60_000 };
}

/** Is the window open at `now` in `timeZone`; if not, when it opens (epoch ms). */
export function windowVerdict(window: DailyWindow, now: number, timeZone: string): WindowVerdict {
  const from = minutesOf(window.from);
  const to = minutesOf(window.to);
  if (from === to) return { open: true, reason: 'the window is all day' };
  const { minute, msIntoMinute } = localClock(now, timeZone);
  const inside = from < to ? minute >= from && minute < to : minute >= from || minute < to;
  if (inside) return { open: true, reason: `inside ${window.from}–${window.to} ${timeZone}` };
  const wait = (from - minute + 1440) % 1440;
  return { open: false, opensAt: now + wait * 60_000 - msIntoMinute, reason: `outside ${window.from}–${window.to} ${timeZone}` };
}
