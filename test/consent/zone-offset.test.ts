/**
 * zoneOffsetMinutes remembers offsets per zone and UTC minute (the message path asks about
 * "now" for every message). It must answer exactly as Intl does, including across DST
 * transitions and in zones with 30- and 45-minute offsets.
 */
import t from 'tap';
import { zoneOffsetMinutes } from '../../src/consent/index.js';

/** The offset straight from Intl, no memo. */
function fromIntl(zone: string, utcMs: number): number {
  const name =
    new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' }).formatToParts(new Date(utcMs)).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0)) : 0;
}

const ZONES = ['Asia/Karachi', 'America/New_York', 'Europe/London', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'America/St_Johns', 'Pacific/Chatham'];

t.test('every minute around DST transitions, asked twice, matches Intl', async (t) => {
  // New York springs forward at 2026-03-08 07:00 UTC and falls back at 2026-11-01 06:00 UTC;
  // London at 2026-03-29 01:00 and 2026-10-25 01:00 UTC; Lord Howe moves by 30 minutes.
  const around = [Date.UTC(2026, 2, 8, 7), Date.UTC(2026, 10, 1, 6), Date.UTC(2026, 2, 29, 1), Date.UTC(2026, 9, 25, 1), Date.UTC(2026, 3, 4, 15), Date.UTC(2026, 9, 3, 15, 30)];
  let checked = 0;
  let wrong = 0;
  for (const zone of ZONES) {
    for (const at of around) {
      for (let m = -90; m <= 90; m++) {
        for (const s of [0, 29_999, 59_999]) {
          const ms = at + m * 60_000 + s;
          const want = fromIntl(zone, ms);
          for (let k = 0; k < 2; k++) {
            checked++;
            if (zoneOffsetMinutes(zone, ms) !== want) wrong++;
          }
        }
      }
    }
  }
  t.equal(wrong, 0, `${checked} answers, none differs from Intl`);
  t.equal(zoneOffsetMinutes('Asia/Kathmandu', Date.UTC(2026, 0, 1)), 345, 'a 45-minute zone');
  t.equal(zoneOffsetMinutes('America/New_York', Date.UTC(2026, 2, 8, 6, 59)), -300, 'one minute before spring forward');
  t.equal(zoneOffsetMinutes('America/New_York', Date.UTC(2026, 2, 8, 7, 0)), -240, 'at spring forward');
});

t.test('random instants over a century, beyond the memo size, match Intl', async (t) => {
  let wrong = 0;
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 30_000; i++) {
    const zone = ZONES[i % ZONES.length];
    const ms = Date.UTC(1940, 0, 1) + Math.floor(rnd() * 100 * 365.25 * 86_400_000);
    if (zoneOffsetMinutes(zone, ms) !== fromIntl(zone, ms)) wrong++;
  }
  t.equal(wrong, 0);
  t.equal(zoneOffsetMinutes('+05:30', 0), 330, 'fixed offsets are not looked up');
  t.equal(zoneOffsetMinutes('UTC', 0), 0);
});
