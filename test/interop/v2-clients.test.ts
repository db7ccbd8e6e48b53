/**
 * Two HL7 v2 client libraries nobody here wrote, used as a hospital system would use them,
 * against a real gateway over a real MLLP socket: simple-hl7 (a TCP client that waits for one
 * ACK per message) and node-hl7-client 3.2 (a connection that hands each ACK, parsed, to a
 * handler). Each sends ADT, ORU, ORM, VXU and MDM messages and gets the ACK its library reads:
 * AA (CA in enhanced mode) echoing its control id; a malformed message gets AE, an unsupported
 * character set AR, each with an ERR naming the field.
 */
import t from 'tap';
import { createRequire } from 'node:module';
import { Client, Message, type InboundResponse } from 'node-hl7-client';
import { loadHl7, withControlId, withMshField } from '../fixtures/hl7v2/load.js';
import { startV2Gateway, acceptedId, isStored } from '../fixtures/hl7v2/gateway.js';

const require = createRequire(import.meta.url);

interface SimpleSegment { getField(i: number): string; getComponent(i: number, j: number): string }
interface SimpleMessage { getSegment(name: string): SimpleSegment | undefined; header: { getField(i: number): string } }
interface SimpleClient { send(msg: string, cb: (err: Error | null, ack: SimpleMessage) => void): void; close(): void }
const hl7 = require('simple-hl7') as { Server: { createTcpClient(opts: { host: string; port: number; keepalive?: boolean }): SimpleClient } };

function simpleSend(port: number, text: string): Promise<SimpleMessage> {
  const client = hl7.Server.createTcpClient({ host: '127.0.0.1', port, keepalive: false });
  return new Promise((resolve, reject) => {
    client.send(text, (err, ack) => (err ? reject(err) : resolve(ack)));
  });
}

/** What a hospital sends: one of each type, with control ids of its own. */
function messages(prefix: string): { name: string; text: string; control: string; expect: string }[] {
  return [
    { name: 'ADT^A01', file: 'adt-a01-pk-cnic.hl7', expect: 'CA' }, // MSH-15 AL, MSH-16 NE: the commit accept only
    { name: 'ORU^R01', file: 'oru-r01-lab-a.hl7', expect: 'AA' },
    { name: 'ORM^O01', file: 'orm-o01-radiology.hl7', expect: 'AA' },
    { name: 'VXU^V04', file: 'vxu-v04-epi.hl7', expect: 'AA' }, // MSH-15 ER, MSH-16 AL: no CA on success, the application AA
    { name: 'MDM^T02', file: 'mdm-t02-discharge.hl7', expect: 'AA' },
  ].map((m, i) => {
    const control = `${prefix}-${i + 1}`;
    return { name: m.name, text: withControlId(loadHl7(m.file), control), control, expect: m.expect };
  });
}

/** An ORU whose numeric result is not a number, and an ADT in a character set nobody supports. */
function malformed(prefix: string) {
  const badNm = withControlId(
    loadHl7('oru-r01-lab-a.hl7').replace('OBX|1|NM|718-7^Hemoglobin [Mass/volume] in Blood^LN||10.9', 'OBX|1|NM|718-7^Hemoglobin [Mass/volume] in Blood^LN||ten'),
    `${prefix}-BAD-NM`,
  );
  const badCharset = withControlId(withMshField(loadHl7('adt-a03-discharge.hl7'), 18, 'UNICODE UTF-16'), `${prefix}-BAD-CS`);
  return { badNm, badCharset };
}

t.test('simple-hl7 sends ADT, ORU, ORM, VXU and MDM to the gateway and reads AA/CA; malformed ones get AE/AR with ERR', async (t) => {
  const { gw } = await startV2Gateway(t);
  for (const m of messages('SH')) {
    const ack = await simpleSend(gw.mllpPort!, m.text);
    const msa = ack.getSegment('MSA')!;
    t.equal(msa.getField(1), m.expect, `${m.name}: ${m.expect}`);
    t.equal(msa.getField(2), m.control, `${m.name}: MSA-2 echoes MSH-10`);
    t.notOk(ack.getSegment('ERR'), `${m.name}: no ERR`);
    t.equal(ack.header.getField(7), `ACK^${m.name.split('^')[1]}^ACK`, `${m.name}: MSH-9 of the ACK`);
    t.ok(isStored(gw, acceptedId(msa.getField(3))), `${m.name} was committed under the id its ACK names`);
  }
  const { badNm, badCharset } = malformed('SH');
  const ae = await simpleSend(gw.mllpPort!, badNm);
  t.equal(ae.getSegment('MSA')!.getField(1), 'AE', 'a result that is not a number: AE');
  t.equal(ae.getSegment('ERR')!.getComponent(2, 1), 'OBX');
  t.equal(ae.getSegment('ERR')!.getComponent(3, 1), '102');
  const ar = await simpleSend(gw.mllpPort!, badCharset);
  t.equal(ar.getSegment('MSA')!.getField(1), 'AR', 'an unsupported MSH-18: AR');
  t.equal(ar.getSegment('MSA')!.getField(2), 'SH-BAD-CS');
  t.equal(ar.getSegment('ERR')!.getComponent(2, 1), 'MSH');
  t.equal(ar.getSegment('ERR')!.getComponent(2, 3), '18', 'ERR-2 names MSH-18');
  t.notMatch(ae.getSegment('MSA')!.getField(3), /accepted as/, 'nothing stored for the AE');
});

t.test('node-hl7-client sends ADT, ORU, ORM, VXU and MDM over one connection and its handler reads each ACK', async (t) => {
  const { gw } = await startV2Gateway(t);
  const acks: Message[] = [];
  let wake: (() => void) | undefined;
  const client = new Client({ host: '127.0.0.1' });
  const conn = client.createConnection({ port: gw.mllpPort!, waitAck: true, maxConnectionAttempts: 10 }, async (res: InboundResponse) => {
    acks.push(res.getMessage());
    wake?.();
  });
  t.teardown(async () => {
    await conn.close();
  });
  const nextAck = async (count: number) => {
    const deadline = Date.now() + 60_000;
    while (acks.length < count) {
      if (Date.now() > deadline) throw new Error(`no ACK ${count} within 60 s`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 200);
      });
    }
    return acks[count - 1];
  };
  let n = 0;
  for (const m of messages('NC')) {
    await conn.sendMessage(new Message({ text: m.text }));
    const ack = await nextAck(++n);
    t.equal(ack.get('MSA.1').toString(), m.expect, `${m.name}: ${m.expect}`);
    t.equal(ack.get('MSA.2').toString(), m.control, `${m.name}: MSA-2 echoes MSH-10`);
    t.equal(ack.get('MSH.9.1').toString(), 'ACK');
    t.ok(isStored(gw, acceptedId(ack.get('MSA.3').toString())), `${m.name} was committed under the id its ACK names`);
  }
  const { badNm, badCharset } = malformed('NC');
  await conn.sendMessage(new Message({ text: badNm }));
  const ae = await nextAck(++n);
  t.equal(ae.get('MSA.1').toString(), 'AE');
  t.equal(ae.get('ERR.2.1').toString(), 'OBX');
  t.equal(ae.get('ERR.3.1').toString(), '102');
  await conn.sendMessage(new Message({ text: badCharset }));
  const ar = await nextAck(++n);
  t.equal(ar.get('MSA.1').toString(), 'AR');
  t.equal(ar.get('ERR.2.3').toString(), '18', 'ERR-2 names MSH-18');
  t.match(ar.get('ERR.8').toString(), /MSH-18/);
});
