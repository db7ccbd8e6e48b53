/**
 * Promise 1 over HTTP: the gateway runs as a child process under 16 concurrent posters and
 * is SIGKILLed at random moments, 12 times; every message answered 202 must reach the
 * simulator, each id's effect once.
 */
import t from 'tap';
import { nothingLostSuite } from '../helpers/nothing-lost.js';

t.test('every message answered 202 is delivered exactly once across 12 SIGKILLs', (t) => nothingLostSuite(t, { protocol: 'http', kills: 12, senders: 16 }));
