// The JSONata peer of the translation benchmark (scripts/bench): the same
// measurement -> Observation mapping as inloop's, written as one JSONata
// expression, run on Node.js over the same NDJSON file translate_bench reads.
//
//   node jsonata_bench.mjs --input FILE --seconds S [--check BUNDLES.ndjson]
//
// Per record: JSON.parse, evaluate, JSON.stringify (the same work inloop does:
// bytes in, bytes out). The peer does LESS than inloop: it builds the
// Observation only (no Patient, no Provenance, no transaction Bundle, no
// validation) and its code tables are handed in pre-built as bindings. It
// covers pain-nrs, standing-tolerance (h -> min) and the blood-pressure panel;
// any other measure is an error (the input file holds only these).
//
// --check compares the first records' Observations with inloop's Bundles
// (the fields listed in `compared` below) and exits 1 on a difference, so the
// peer is known to do equivalent work before it is timed.
// Prints one JSON object on stdout. Bounded: stops after S seconds.
import fs from 'node:fs';
import jsonata from 'jsonata';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []));
if (!args.input || !(Number(args.seconds) > 0)) {
  console.error('usage: node jsonata_bench.mjs --input FILE --seconds S [--check BUNDLES.ndjson]');
  process.exit(2);
}

// The tables inloop reads from config/mappings (measures.json, units.json),
// for the three measures the peer covers.
const bindings = {
  measures: {
    'pain-nrs': {
      system: 'http://loinc.org', code: '72514-3',
      display: 'Pain severity - 0-10 verbal numeric rating [Score] - Reported',
      text: 'Pain intensity (0-10 numeric rating scale)', category: 'survey', unit: 'score',
    },
    'standing-tolerance': {
      system: 'https://paincenter.example.org/fhir/CodeSystem/measure', code: 'standing-tolerance',
      display: 'Standing tolerance (time able to stand)',
      text: 'Standing tolerance (time able to stand)', category: 'activity', unit: 'min',
    },
    'blood-pressure': {
      system: 'http://loinc.org', code: '85354-9',
      display: 'Blood pressure panel with all children optional',
      text: 'Blood pressure', category: 'vital-signs', unit: 'mmHg',
    },
    'bp-systolic': {
      system: 'http://loinc.org', code: '8480-6', display: 'Systolic blood pressure',
      text: 'Systolic blood pressure', category: 'vital-signs', unit: 'mmHg',
    },
    'bp-diastolic': {
      system: 'http://loinc.org', code: '8462-4', display: 'Diastolic blood pressure',
      text: 'Diastolic blood pressure', category: 'vital-signs', unit: 'mmHg',
    },
  },
  units: {
    score: { ucum: '{score}', display: 'score' },
    min: { ucum: 'min', display: 'min' },
    h: { ucum: 'h', display: 'h' },
    mmHg: { ucum: 'mm[Hg]', display: 'mmHg' },
  },
  // value_in_to = value_in_from * factor, keyed "from>to".
  factors: { 'h>min': 60, 'hours>min': 60, 'minutes>min': 1 },
};

const expression = `
(
  $base := "https://paincenter.example.org/fhir/";
  $recordSystem := $base & "sid/record";
  $esc := function($s) { $replace($replace($replace($string($s), "&", "&amp;"), "<", "&lt;"), ">", "&gt;") };
  $qty := function($v, $u, $mm) {(
    $from := $u ? $u : $mm.unit;
    $value := $from = $mm.unit ? $v : $v * $lookup($factors, $from & ">" & $mm.unit);
    $unit := $lookup($units, $mm.unit);
    { "value": $value, "unit": $unit.display, "system": "http://unitsofmeasure.org", "code": $unit.ucum }
  )};
  $concept := function($mm) {
    { "coding": [{ "system": $mm.system, "code": $mm.code, "display": $mm.display }], "text": $mm.text }
  };
  $m := $lookup($measures, measure);
  $pcp := patient.pcpPatientId;
  $sys := $pcp ? $base & "sid/pcp-patient/" & pcp.practiceId : $base & "sid/mrn";
  $pid := $pcp ? $pcp : patient.mrn;
  $value := $exists(value) ? $qty(value, unit, $m);
  $components := components.(
    $cm := $lookup($measures, measure);
    { "code": $concept($cm), "valueQuantity": $qty(value, unit, $cm), "text": $cm.text }
  );
  $result := $value
    ? $string($value.value) & " " & $value.unit
    : $join($components.(text & ": " & $string(valueQuantity.value) & " " & valueQuantity.unit), "; ");
  $rows := [
    ["Result", $result], ["Measured", effective], ["Status", status], ["Method", method],
    ["Performed by", author.name], ["Care plan", planId], ["Goal", goalId],
    ["Record", recordId & " version " & $string(version)]
  ][$[1]];
  $div := '<div xmlns="http://www.w3.org/1999/xhtml"><p><b>Measurement: ' & $esc($m.text) & '</b></p><table>'
    & $join($rows.('<tr><th>' & $[0] & '</th><td>' & $esc($[1]) & '</td></tr>')) & '</table>'
    & (note ? '<p>Note: ' & $esc(note) & '</p>' : '') & '</div>';
  {
    "resourceType": "Observation",
    "id": "obs-" & recordId,
    "text": { "status": "generated", "div": $div },
    "extension": [{ "url": $base & "StructureDefinition/record-version", "valuePositiveInt": version }],
    "identifier": [{ "system": $recordSystem, "value": recordId }],
    "basedOn": planId ? [{ "type": "CarePlan", "identifier": { "system": $recordSystem, "value": planId } }],
    "status": status,
    "category": [{ "coding": [{
      "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": $m.category }] }],
    "code": $concept($m),
    "subject": {
      "reference": "Patient?identifier=" & $sys & "%7C" & $pid,
      "type": "Patient",
      "identifier": { "system": $sys, "value": $pid }
    },
    "effectiveDateTime": effective,
    "issued": recordedAt,
    "performer": [{ "type": "Practitioner", "display": author.name }],
    "valueQuantity": $value,
    "component": $components ? [$components.{ "code": code, "valueQuantity": valueQuantity }]
  }
)`;

const compiled = jsonata(expression);
const lines = fs.readFileSync(args.input, 'utf8').split('\n').filter((l) => l.length > 0);

// The fields whose equality with inloop's Observation is checked.
const compared = (o) => JSON.stringify({
  id: o.id,
  identifier: o.identifier,
  status: o.status,
  category: o.category,
  code: o.code?.coding?.map((c) => [c.system, c.code]),
  subject: o.subject?.identifier,
  effective: o.effectiveDateTime,
  value: o.valueQuantity && [Number(o.valueQuantity.value), o.valueQuantity.code],
  components: o.component?.map((c) => [c.code.coding[0].code, Number(c.valueQuantity.value),
    c.valueQuantity.code]),
  narrative: typeof o.text?.div === 'string' && o.text.div.startsWith('<div'),
});

if (args.check) {
  const bundles = fs.readFileSync(args.check, 'utf8').split('\n').filter((l) => l.length > 0);
  for (let i = 0; i < bundles.length; i++) {
    const theirs = JSON.parse(bundles[i]).entry
      .map((e) => e.resource).find((r) => r.resourceType === 'Observation');
    const ours = await compiled.evaluate(JSON.parse(lines[i]), bindings);
    if (compared(ours) !== compared(theirs)) {
      console.error(`jsonata_bench: record ${i} differs from inloop's Observation\n` +
        `  jsonata: ${compared(ours)}\n  inloop:  ${compared(theirs)}`);
      process.exit(1);
    }
  }
}

let records = 0;
let inputBytes = 0;
let outputBytes = 0;
const budgetMs = Number(args.seconds) * 1000;
const start = process.hrtime.bigint();
let elapsedMs = 0;
for (let i = 0; ; i = (i + 1) % lines.length) {
  const observation = await compiled.evaluate(JSON.parse(lines[i]), bindings);
  outputBytes += JSON.stringify(observation).length;
  inputBytes += lines[i].length;
  records++;
  if ((records & 31) === 0 || i === lines.length - 1) {
    elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
    if (records >= lines.length && elapsedMs >= budgetMs) break;
  }
}
const seconds = elapsedMs / 1000;
console.log(JSON.stringify({
  benchmark: 'translate-peer',
  peer: `jsonata ${JSON.parse(fs.readFileSync(new URL('./node_modules/jsonata/package.json',
    import.meta.url), 'utf8')).version} on node ${process.version}`,
  type: 'measurement',
  records,
  seconds,
  recordsPerSec: records / seconds,
  inputMBPerSec: inputBytes / 1e6 / seconds,
  outputBytesPerRecord: outputBytes / records,
}));
