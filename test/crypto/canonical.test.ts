import t from 'tap';
import { canonicalJson } from '../../src/crypto/index.js';

t.test('keys are sorted by UTF-16 code units at every depth, with no whitespace', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  // RFC 8785 §3.2.3 example of sorting: "\u20ac" (€) sorts after "\r" and "1", and U+1F600 (surrogates) before U+FB33.
  t.equal(canonicalJson({ '\u20ac': 1, '\r': 2, '1': 3, '\ud83d\ude00': 4, '\ufb33': 5 }), '{"\\r":2,"1":3,"\u20ac":1,"\ud83d\ude00":4,"\ufb33":5}');
});

t.test('strings and numbers serialise as RFC 8785 prescribes', async (t) => {
  t.equal(canonicalJson('\u0000\b\f\n\r\t"\\/é\u2028'), '"\\u0000\\b\\f\\n\\r\\t\\"\\\\/é\u2028"');
  t.equal(canonicalJson([1e21, 1e-7, -0, 0.1 + 0.2, 333333333.3333333, 1, true, false]), '[1e+21,1e-7,0,0.30000000000000004,333333333.3333333,1,true,false]');
});

t.test('values canonical JSON cannot carry are refused with their path', async (t) => {
  t.throws(() => canonicalJson({ a: [1, NaN] }), { message: /\$\.a\[1\] is not a finite number/ });
  t.throws(() => canonicalJson({ a: [undefined] }), { message: /\$\.a\[0\] is undefined/ });
  t.throws(() => canonicalJson({ d: new Date(0) }), { message: /\$\.d is not a plain object/ });
  t.throws(() => canonicalJson({ n: 1n }), { message: /bigint/ });
  const cyc: Record<string, unknown> = {};
  cyc.self = cyc;
  t.throws(() => canonicalJson(cyc), { message: /cycle/ });
  t.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}', 'undefined members are omitted');
  t.equal(canonicalJson(Object.assign(Object.create(null), { x: 1 })), '{"x":1}');
});

t.test('a shared (non-cyclic) sub-object may appear twice', async (t) => {
  const shared = { k: 1 };
  t.equal(canonicalJson({ a: shared, b: shared }), '{"a":{"k":1},"b":{"k":1}}');
});
