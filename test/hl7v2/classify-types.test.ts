/**
 * The codes of the new message types reach classification, as v2 and as the mapped FHIR: an
 * HIV order (OBR-4), a DG1 diagnosis, a sensitive code in RXA-5, a mental-health reason on an
 * appointment, a diagnosis written in a document's text. Each form is classified on its own,
 * so neither the mapping nor the v2 reader hides what the other would find. The new segments
 * are understood (the v2 form is not opaque), a Z-segment still is not.
 */
import t from 'tap';
import { classify, classifyV2, classifyMessage } from '../../src/classify/index.js';
import { mapToFhir, parseHl7, v2Understanding } from '../../src/hl7v2/index.js';
import type { FhirResource } from '../../src/model/index.js';
import { loadHl7 } from '../fixtures/hl7v2/load.js';

const NOW = new Date('2024-04-01T00:00:00Z');
const bundleOf = (text: string): FhirResource => {
  const r = mapToFhir(parseHl7(text));
  if (r.kind !== 'mapped') throw new Error(`not mapped: ${JSON.stringify(r)}`);
  return r.bundle;
};
const categories = (text: string) => ({
  v2: classifyV2(text, { now: NOW }).categories,
  fhir: classify(bundleOf(text), { now: NOW }).categories,
  both: classifyMessage({ resource: bundleOf(text), v2: text }, { now: NOW }).categories,
});

t.test('the fixtures as sent carry no sensitive category', async (t) => {
  for (const name of ['orm-o01-radiology.hl7', 'oml-o21-lab.hl7', 'siu-s12.hl7', 'mdm-t02-discharge.hl7', 'vxu-v04-epi.hl7']) {
    t.same(categories(loadHl7(name)), { v2: [], fhir: [], both: [] }, name);
  }
});

t.test('an HIV viral load order (OBR-4, LOINC) is hiv-sti in v2 and in FHIR', async (t) => {
  const text = loadHl7('oml-o21-lab.hl7').replace('4548-4^Hemoglobin A1c/Hemoglobin.total in Blood^LN', '25836-8^HIV 1 RNA [#/volume] (viral load) by NAA^LN');
  t.same(categories(text), { v2: ['hiv-sti'], fhir: ['hiv-sti'], both: ['hiv-sti'] });
});

t.test('a DG1 diagnosis on an order is found in v2 and in the mapped Condition', async (t) => {
  const text = loadHl7('orm-o01-radiology.hl7').replace('DG1|1|I10|R05^Cough^I10', 'DG1|1|I10|F32.9^Depressive episode, unspecified^I10');
  t.same(categories(text), { v2: ['mental-health'], fhir: ['mental-health'], both: ['mental-health'] });
});

t.test('RXA-5 codes are read: a sensitive RxNorm as the alternate code of an administration', async (t) => {
  const text = loadHl7('vxu-v04-epi.hl7').replace('102^DTP-Hib-Hep B^CVX', '102^DTP-Hib-Hep B^CVX^1747692^Descovy^RXNORM');
  t.same(categories(text), { v2: ['hiv-sti'], fhir: ['hiv-sti'], both: ['hiv-sti'] });
});

t.test('an appointment for a mental-health reason (SCH-7 in ICD-10) is found', async (t) => {
  const text = loadHl7('siu-s12.hl7').replace('FOLLOWUP^Follow-up^HL70276', 'F41.1^Generalized anxiety disorder^I10');
  t.same(categories(text), { v2: ['mental-health'], fhir: ['mental-health'], both: ['mental-health'] });
});

t.test('a diagnosis written in a document (OBX TX) or in an order’s clinical information (OBR-13) is found in the v2 text', async (t) => {
  const doc = loadHl7('mdm-t02-discharge.hl7').replace('Follow up in OPD in one week.', 'Known case of B20 on ART; follow up in one week.');
  t.same(classifyV2(doc, { now: NOW }).categories, ['hiv-sti']);
  t.same(classifyMessage({ resource: bundleOf(doc), v2: doc }, { now: NOW }).categories, ['hiv-sti'], 'the message as the pipeline classifies it');
  const order = loadHl7('orm-o01-radiology.hl7').replace('Persistent cough for three weeks', 'Cough; history of F20.0');
  t.same(classifyV2(order, { now: NOW }).categories, ['mental-health'], 'OBR-13 is read as text');
});

t.test('the new segments are understood (the v2 form may be judged); a Z-segment or an unknown segment is not', async (t) => {
  for (const name of ['orm-o01-radiology.hl7', 'oml-o21-lab.hl7', 'siu-s12.hl7', 'siu-s15-cancel.hl7', 'mdm-t02-discharge.hl7', 'vxu-v04-epi.hl7']) {
    t.same(v2Understanding(loadHl7(name)), { understood: true, unknownSegments: [] }, name);
  }
  t.same(v2Understanding(`${loadHl7('vxu-v04-epi.hl7')}\rZXX|1|x`), { understood: false, unknownSegments: ['ZXX'] });
  t.same(v2Understanding(`${loadHl7('vxu-v04-epi.hl7')}\rIN1|1|PLAN`), { understood: false, unknownSegments: ['IN1'] });
});
