/**
 * Promise 1 over MLLP: the gateway runs as a child process under 8 concurrent MLLP senders
 * (ORU messages, each with its own MSH-10) and is SIGKILLed at random moments, 4 times;
 * every message answered AA or CA must reach the simulator, once, under the id its ACK names.
 */
import t from 'tap';
import { nothingLostSuite } from '../helpers/nothing-lost.js';

t.test('every message answered AA/CA over MLLP is delivered exactly once across 4 SIGKILLs', (t) => nothingLostSuite(t, { protocol: 'mllp', kills: 4, senders: 8 }));
