#include "fhir/validator.h"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/operation_outcome.h"

using namespace inloop::fhir;

namespace {

constexpr const char* kDiv =
    R"("text": {"status": "generated",
                "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"})";

std::string withText(const char* body) {
  std::string s = body;
  // Every base resource starts with `{"resourceType": "...",`; put the narrative after it.
  std::size_t comma = s.find(',');
  return s.substr(0, comma + 1) + kDiv + "," + s.substr(comma + 1);
}

// Minimal valid resources; each case changes one element.
struct Base {
  const char* name;
  const char* json;
};
const Base kBases[] = {
    {"obs", R"({"resourceType": "Observation", "status": "final",
      "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
      "subject": {"reference": "Patient/p1"},
      "effectiveDateTime": "2026-03-02T10:15:00Z",
      "valueQuantity": {"value": 6, "unit": "{score}", "system": "http://unitsofmeasure.org",
                        "code": "{score}"}})"},
    {"bp", R"({"resourceType": "Observation", "status": "final",
      "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
      "subject": {"reference": "Patient/p1"},
      "component": [
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
         "valueQuantity": {"value": 128, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
         "valueQuantity": {"value": 82, "system": "http://unitsofmeasure.org",
                           "code": "mm[Hg]"}}]})"},
    {"cp", R"({"resourceType": "CarePlan", "status": "active", "intent": "plan",
      "subject": {"reference": "Patient/p1"},
      "period": {"start": "2026-03-01", "end": "2026-06-01"},
      "activity": [{"detail": {"kind": "ServiceRequest", "status": "scheduled",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91251008"}]}}}]})"},
    {"goal", R"({"resourceType": "Goal", "lifecycleStatus": "active",
      "description": {"text": "Walk farther"}, "subject": {"reference": "Patient/p1"},
      "target": [{"measure": {"coding": [{"system": "http://loinc.org", "code": "64098-7"}]},
        "detailQuantity": {"value": 300, "system": "http://unitsofmeasure.org", "code": "m"},
        "dueDate": "2026-06-01"}]})"},
    {"ms", R"({"resourceType": "MedicationStatement", "status": "active",
      "medicationCodeableConcept": {"coding": [
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                "code": "72625"}]},
      "subject": {"reference": "Patient/p1"},
      "dosage": [{"sequence": 1, "text": "30 mg daily",
        "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [{"doseQuantity": {"value": 30, "unit": "mg",
          "system": "http://unitsofmeasure.org", "code": "mg"}}]}]})"},
    {"mr", R"({"resourceType": "MedicationRequest", "status": "active", "intent": "plan",
      "reportedBoolean": true,
      "medicationCodeableConcept": {"text": "duloxetine 30 mg"},
      "subject": {"reference": "Patient/p1"},
      "dispenseRequest": {"numberOfRepeatsAllowed": 0}})"},
    {"com", R"({"resourceType": "Communication", "status": "completed",
      "subject": {"reference": "Patient/p1"},
      "payload": [{"contentString": "Duloxetine started: please watch blood pressure."},
                  {"contentAttachment": {"contentType": "text/plain", "data": "aGVsbG8=",
                                         "url": "https://example.org/a.txt"}}]})"},
    {"prov", R"({"resourceType": "Provenance", "target": [{"reference": "CarePlan/cp1"}],
      "recorded": "2026-03-02T10:15:00Z",
      "agent": [{"who": {"display": "Pain center gateway"}}]})"},
    {"pat", R"({"resourceType": "Patient",
      "identifier": [{"use": "usual", "system": "urn:example:mrn", "value": "12345"}],
      "name": [{"use": "official", "family": "Testperson", "given": ["Alex"]}],
      "gender": "unknown", "birthDate": "1970-01-01"})"},
    {"oo", R"({"resourceType": "OperationOutcome",
      "issue": [{"severity": "error", "code": "invalid", "diagnostics": "bad"}]})"},
    {"bdl", R"({"resourceType": "Bundle", "type": "transaction", "entry": [
      {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
       "resource": {"resourceType": "Observation", "text": {"status": "generated",
                    "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
                    "status": "final", "code": {"text": "pain"},
                    "valueInteger": 6},
       "request": {"method": "POST", "url": "Observation"}},
      {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000002",
       "resource": {"resourceType": "Goal", "text": {"status": "generated",
                    "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
                    "lifecycleStatus": "active",
                    "description": {"text": "sleep"}, "subject": {"reference": "Patient/p1"}},
       "request": {"method": "PUT", "url": "Goal?identifier=urn:example:goal|1"}}]})"},
};

Json baseResource(std::string_view name) {
  for (const Base& b : kBases) {
    if (name != b.name) continue;
    // Bundles have no narrative (Bundle is not a DomainResource).
    std::string text = name == "bdl" ? std::string(b.json) : withText(b.json);
    Result<Json> r = parseJson(text);
    REQUIRE(r.isOk());
    return std::move(r).value();
  }
  FAIL("no base " << name);
  return Json();
}

// Sets (or, when `valueJson` is empty, removes) the element at `path`
// ("activity[0].detail.status"); missing objects are created, an index equal
// to the array size appends.
void setAt(Json* root, std::string_view path, std::string_view valueJson) {
  Json* node = root;
  while (true) {
    std::size_t dot = path.find('.');
    std::string_view seg = path.substr(0, dot);
    const bool last = dot == std::string_view::npos;
    std::size_t bracket = seg.find('[');
    std::string name(seg.substr(0, bracket));
    if (bracket == std::string_view::npos && last) {
      if (valueJson.empty()) {
        node->erase(name);
      } else {
        Result<Json> v = parseJson(valueJson);
        REQUIRE(v.isOk());
        node->set(name, std::move(v).value());
      }
      return;
    }
    Json* next = node->find(name);
    if (next == nullptr)
      next = &node->set(name, bracket == std::string_view::npos ? Json::object() : Json::array());
    if (bracket != std::string_view::npos) {
      std::size_t index = std::stoul(std::string(seg.substr(bracket + 1)));
      if (index == next->size()) next->push(Json::object());
      REQUIRE(index < next->size());
      next = &next->items()[index];
      if (last) {
        Result<Json> v = parseJson(valueJson);
        REQUIRE(v.isOk());
        *next = std::move(v).value();
        return;
      }
    }
    node = next;
    path.remove_prefix(dot + 1);
  }
}

bool hasIssue(const Issues& issues, Severity severity, std::string_view path,
              std::string_view text) {
  for (const Issue& i : issues) {
    if (i.severity == severity && i.path == path && i.message.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

struct Case {
  const char* base;
  const char* path;       // element to change ("" for none)
  const char* value;      // JSON; "" removes the element
  const char* issuePath;  // nullptr: the result must have no errors
  const char* text;       // expected in the message
};

void runCases(const Case* begin, const Case* end) {
  for (const Case* c = begin; c != end; ++c) {
    Json r = baseResource(c->base);
    if (*c->path != '\0') setAt(&r, c->path, c->value);
    const Issues issues = validateResource(r);
    INFO(c->base << " " << c->path << " = " << c->value << "\n" << formatIssues(issues));
    if (c->issuePath == nullptr) {
      CHECK_FALSE(hasErrors(issues));
    } else {
      CHECK(hasIssue(issues, Severity::kError, c->issuePath, c->text));
    }
  }
}

}  // namespace

TEST_CASE("validator accepts every base resource without issues", "[fhir][validator]") {
  for (const Base& b : kBases) {
    const Issues issues = validateResource(baseResource(b.name));
    INFO(b.name << "\n" << formatIssues(issues));
    CHECK(issues.empty());
  }
}

TEST_CASE("validator checks primitive lexical forms", "[fhir][validator]") {
  const Case cases[] = {
      {"obs", "id", R"("obs-1.a")", nullptr, ""},
      {"obs", "id", R"("obs_1")", "Observation.id", "not a valid id"},
      {"goal", "statusDate", R"("2026-02")", nullptr, ""},
      {"goal", "statusDate", R"("2026-02-30")", "Goal.statusDate", "not a valid date"},
      {"obs", "effectiveDateTime", R"("2026-09-01T10:00:00+02:00")", nullptr, ""},
      {"obs", "effectiveDateTime", R"("2026-09-01T10:00:00")", "Observation.effectiveDateTime",
       "not a valid dateTime"},
      {"obs", "issued", R"("2026-09-01T10:00:00.123Z")", nullptr, ""},
      {"obs", "issued", R"("2026-09-01")", "Observation.issued", "not a valid instant"},
      {"ms", "dosage[0].timing.repeat.timeOfDay", R"(["08:00:00"])", nullptr, ""},
      {"ms", "dosage[0].timing.repeat.timeOfDay", R"(["8:00"])",
       "MedicationStatement.dosage[0].timing.repeat.timeOfDay[0]", "not a valid time"},
      {"obs", "valueQuantity.value", "1.50", nullptr, ""},
      {"obs", "valueQuantity.value", R"("6")", "Observation.valueQuantity.value",
       "expected a JSON number (decimal)"},
      {"ms", "dosage[0].sequence", "2", nullptr, ""},
      {"ms", "dosage[0].sequence", "1.5", "MedicationStatement.dosage[0].sequence",
       "not a valid integer"},
      {"ms", "dosage[0].sequence", "2147483648", "MedicationStatement.dosage[0].sequence",
       "not a valid integer"},
      {"ms", "dosage[0].timing.repeat.frequency", "0",
       "MedicationStatement.dosage[0].timing.repeat.frequency", "positiveInt must be 1 or more"},
      {"mr", "dispenseRequest.numberOfRepeatsAllowed", "-1",
       "MedicationRequest.dispenseRequest.numberOfRepeatsAllowed", "unsignedInt must be 0 or more"},
      {"obs", "code.coding[0].system", R"("http://loinc org")", "Observation.code.coding[0].system",
       "not a valid uri"},
      {"com", "payload[1].contentAttachment.url", R"("https://example.org/a b")",
       "Communication.payload[1].contentAttachment.url", "not a valid url"},
      {"cp", "instantiatesCanonical", R"(["http://example.org/PlanDefinition/pt|1.0"])", nullptr,
       ""},
      {"cp", "instantiatesCanonical", R"(["http://example.org/x y"])",
       "CarePlan.instantiatesCanonical[0]", "not a valid canonical"},
      {"obs", "code.coding[0].code", R"("a  b")", "Observation.code.coding[0].code",
       "not a valid code"},
      {"cp", "title", R"("Functional restoration")", nullptr, ""},
      {"cp", "title", R"("   ")", "CarePlan.title", "non-whitespace"},
      {"cp", "title", R"("")", "CarePlan.title", "empty string"},
      {"cp", "title", "12", "CarePlan.title", "expected a JSON string (string)"},
      {"mr", "reportedBoolean", R"("true")", "MedicationRequest.reportedBoolean",
       "expected true or false"},
      {"cp", "note", R"([{"text": "Plan **agreed**"}])", nullptr, ""},
      {"cp", "note", R"([{"text": ""}])", "CarePlan.note[0].text", "empty string"},
      {"obs", "text.div", R"("<p>x</p>")", "Observation.text.div", "must start with <div"},
      {"obs", "text.div", R"("<div>x</div>")", "Observation.text.div", "xmlns"},
      {"obs", "text.div", R"("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p> </p></div>")",
       "Observation.text.div", "txt-2"},
      {"obs", "text.div",
       R"("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x</p><SCRIPT>alert(1)</SCRIPT></div>")",
       "Observation.text.div", "txt-1"},
      {"obs", "text.div",
       R"("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p><b>Pain</b> 6/10</p></div>")", nullptr,
       ""},
      // txt-1 looks at markup only: words in the text are content (issue 16 item 9).
      {"obs", "text.div",
       R"("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>see javascript: notes, a onclick= b, )"
       R"(c onerror=d &lt;script&gt; &quot;x&quot;</p></div>")",
       nullptr, ""},
      {"obs", "text.div",
       R"("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p title=\"onclick= javascript:\">x</p></div>")",
       nullptr, ""},
      {"obs", "text.div",
       R"("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p onClick=\"x()\">x</p></div>")",
       "Observation.text.div", "txt-1"},
      {"obs", "text.div",
       R"("<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=' JaVa&#x09;Script:x()'>x</a></div>")",
       "Observation.text.div", "txt-1"},
      {"obs", "text.div",
       R"("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x</p><h:iframe src=\"a\"/></div>")",
       "Observation.text.div", "txt-1"},
      {"obs", "text.div",
       R"("<div xmlns=\"http://www.w3.org/1999/xhtml\"><img src=\"Binary/1\"/></div>")", nullptr,
       ""},
      {"obs", "text.div",
       R"("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p class=\"x>x</p></div>")",
       "Observation.text.div", "unclosed"},
      {"com", "payload[1].contentAttachment.data", R"("abc")",
       "Communication.payload[1].contentAttachment.data", "not valid base64Binary"},
      {"pat", "birthDate", R"("1970-13-01")", "Patient.birthDate", "not a valid date"},
  };
  runCases(std::begin(cases), std::end(cases));
}

TEST_CASE("validator checks required value-set bindings", "[fhir][validator]") {
  const Case cases[] = {
      {"cp", "status", R"("on-hold")", nullptr, ""},
      {"cp", "status", R"("planned")", "CarePlan.status", "request-status"},
      {"cp", "intent", R"("option")", nullptr, ""},
      {"cp", "intent", R"("original-order")", "CarePlan.intent", "care-plan-intent"},
      {"cp", "activity[0].detail.status", R"("not-started")", nullptr, ""},
      {"cp", "activity[0].detail.status", R"("active")", "CarePlan.activity[0].detail.status",
       "care-plan-activity-status"},
      {"cp", "activity[0].detail.kind", R"("Appointment")", nullptr, ""},
      {"cp", "activity[0].detail.kind", R"("Procedure")", "CarePlan.activity[0].detail.kind",
       "care-plan-activity-kind"},
      {"goal", "lifecycleStatus", R"("proposed")", nullptr, ""},
      {"goal", "lifecycleStatus", R"("achieved")", "Goal.lifecycleStatus", "goal-status"},
      {"obs", "status", R"("amended")", nullptr, ""},
      {"obs", "status", R"("done")", "Observation.status", "observation-status"},
      {"ms", "status", R"("not-taken")", nullptr, ""},
      {"ms", "status", R"("draft")", "MedicationStatement.status", "medication-statement-status"},
      {"mr", "status", R"("draft")", nullptr, ""},
      {"mr", "status", R"("not-taken")", "MedicationRequest.status", "medicationrequest-status"},
      {"mr", "intent", R"("original-order")", nullptr, ""},
      {"mr", "intent", R"("directive")", "MedicationRequest.intent", "medicationrequest-intent"},
      {"com", "status", R"("in-progress")", nullptr, ""},
      {"com", "status", R"("sent")", "Communication.status", "event-status"},
      {"bdl", "type", R"("batch")", nullptr, ""},
      {"bdl", "type", R"("bag")", "Bundle.type", "bundle-type"},
      {"bdl", "entry[0].request.method", R"("PATCH")", nullptr, ""},
      {"bdl", "entry[0].request.method", R"("post")", "Bundle.entry[0].request.method",
       "http-verb"},
      {"obs", "valueQuantity.comparator", R"(">=")", nullptr, ""},
      {"obs", "valueQuantity.comparator", R"("=")", "Observation.valueQuantity.comparator",
       "quantity-comparator"},
      {"obs", "text.status", R"("empty")", nullptr, ""},
      {"obs", "text.status", R"("complete")", "Observation.text.status", "narrative-status"},
      {"oo", "issue[0].severity", R"("fatal")", nullptr, ""},
      {"oo", "issue[0].severity", R"("critical")", "OperationOutcome.issue[0].severity",
       "issue-severity"},
      {"oo", "issue[0].code", R"("business-rule")", nullptr, ""},
      {"oo", "issue[0].code", R"("bad-request")", "OperationOutcome.issue[0].code", "issue-type"},
      {"pat", "identifier[0].use", R"("secondary")", nullptr, ""},
      {"pat", "identifier[0].use", R"("primary")", "Patient.identifier[0].use", "identifier-use"},
      {"pat", "name[0].use", R"("maiden")", nullptr, ""},
      {"pat", "name[0].use", R"("legal")", "Patient.name[0].use", "name-use"},
      {"pat", "gender", R"("female")", nullptr, ""},
      {"pat", "gender", R"("F")", "Patient.gender", "administrative-gender"},
      {"ms", "dosage[0].timing.repeat.periodUnit", R"("wk")", nullptr, ""},
      {"ms", "dosage[0].timing.repeat.periodUnit", R"("day")",
       "MedicationStatement.dosage[0].timing.repeat.periodUnit", "units-of-time"},
      {"ms", "dosage[0].timing.repeat.dayOfWeek", R"(["mon", "fri"])", nullptr, ""},
      {"ms", "dosage[0].timing.repeat.dayOfWeek", R"(["mon", "Friday"])",
       "MedicationStatement.dosage[0].timing.repeat.dayOfWeek[1]", "days-of-week"},
      {"obs", "subject.type", R"("Patient")", nullptr, ""},
      {"obs", "subject.type", R"("Pati ent")", "Observation.subject.type", "not a valid uri"},
  };
  runCases(std::begin(cases), std::end(cases));
  // durationUnit needs a duration beside it (tim-7 aside, tim-1 asks the reverse).
  const Case units[] = {
      {"ms", "dosage[0].timing.repeat.durationUnit", R"("min")", nullptr, ""},
      {"ms", "dosage[0].timing.repeat.durationUnit", R"("minutes")",
       "MedicationStatement.dosage[0].timing.repeat.durationUnit", "units-of-time"},
  };
  for (const Case& c : units) {
    Json r = baseResource(c.base);
    setAt(&r, "dosage[0].timing.repeat.duration", "30");
    setAt(&r, c.path, c.value);
    const Issues issues = validateResource(r);
    INFO(formatIssues(issues));
    if (c.issuePath == nullptr) {
      CHECK_FALSE(hasErrors(issues));
    } else {
      CHECK(hasIssue(issues, Severity::kError, c.issuePath, c.text));
    }
  }
}

TEST_CASE("validator checks invariants, broken and kept", "[fhir][validator]") {
  const Case cases[] = {
      // obs-6
      {"obs", "dataAbsentReason", R"({"text": "not asked"})", "Observation.dataAbsentReason",
       "obs-6"},
      {"bp", "dataAbsentReason", R"({"text": "panel"})", nullptr, ""},
      // obs-7: a value together with a component coded like Observation.code
      {"bp", "valueString", R"("128/82")", nullptr, ""},
      {"bp", "component[1].code.coding[0].code", R"("85354-9")", nullptr, ""},
      {"obs", "component", R"([{"code": {"coding": [{"system": "http://loinc.org",
         "code": "72514-3"}]}, "valueInteger": 6}])",
       "Observation.component[0].code", "obs-7"},
      {"obs", "component", R"([{"code": {"coding": [{"system": "http://loinc.org",
         "code": "8480-6"}]}, "valueInteger": 6}])",
       nullptr, ""},
      // qty-3
      {"obs", "valueQuantity.system", "", "Observation.valueQuantity", "qty-3"},
      {"obs", "valueQuantity", R"({"value": 6, "unit": "points"})", nullptr, ""},
      // sqty-1
      {"ms", "dosage[0].doseAndRate[0].doseQuantity.comparator", R"("<")",
       "MedicationStatement.dosage[0].doseAndRate[0].doseQuantity.comparator", "sqty-1"},
      // cpl-3
      {"cp", "activity[0].reference", R"({"reference": "ServiceRequest/sr1"})",
       "CarePlan.activity[0]", "cpl-3"},
      {"cp", "activity[1].reference", R"({"reference": "ServiceRequest/sr1"})", nullptr, ""},
      // gol-1
      {"goal", "target[0].measure", "", "Goal.target[0]", "gol-1"},
      {"goal", "target[0].detailQuantity", "", nullptr, ""},
      // ref-1
      {"obs", "subject.reference", R"("#p1")", "Observation.subject.reference", "ref-1"},
      {"obs", "contained", R"([{"resourceType": "Patient", "id": "p2", "gender": "male"}])",
       nullptr, ""},
      // per-1
      {"cp", "period.end", R"("2026-02-01")", "CarePlan.period", "per-1"},
      {"cp", "period.end", R"("2026-03-01")", nullptr, ""},
      {"cp", "period", R"({"start": "2026-03-01T12:00:00Z", "end": "2026-03-01T11:00:00Z"})",
       "CarePlan.period", "per-1"},
      {"cp", "period", R"({"start": "2026-03-01T12:00:00+02:00", "end": "2026-03-01T11:00:00Z"})",
       nullptr, ""},
      {"cp", "period", R"({"start": "2026-04", "end": "2026-03-15"})", "CarePlan.period", "per-1"},
      // ele-1
      {"obs", "subject", "{}", "Observation.subject", "ele-1"},
      {"obs", "category", "[]", "Observation.category", "ele-1"},
      {"obs", "subject", R"({"id": "x"})", "Observation.subject", "ele-1"},
      // ext-1
      {"obs", "extension", R"([{"url": "http://example.org/x"}])", "Observation.extension[0]",
       "ext-1"},
      {"obs", "extension", R"([{"url": "http://example.org/x", "valueCode": "a"}])", nullptr, ""},
      // tim-1, tim-2
      {"ms", "dosage[0].timing.repeat.periodUnit", "",
       "MedicationStatement.dosage[0].timing.repeat", "tim-2"},
      // att-1
      {"com", "payload[1].contentAttachment.contentType", "",
       "Communication.payload[1].contentAttachment", "att-1"},
      // rng-2
      {"goal", "target[0]", R"({"measure": {"text": "x"},
         "detailRange": {"low": {"value": 5}, "high": {"value": 3}}})",
       "Goal.target[0].detailRange", "rng-2"},
      // rat-1
      {"goal", "target[0]", R"({"measure": {"text": "x"},
         "detailRatio": {"numerator": {"value": 5}}})",
       "Goal.target[0].detailRatio", "rat-1"},
      // pat-1
      {"pat", "contact", R"([{"gender": "male"}])", "Patient.contact[0]", "pat-1"},
      // dom-2, dom-4 on contained resources
      {"obs", "contained", R"([{"resourceType": "Patient", "id": "p2",
         "meta": {"versionId": "3"}}])",
       "Observation.contained[0].meta", "dom-4"},
      // bdl-1, bdl-3, bdl-7, bdl-5
      {"bdl", "total", "2", "Bundle.total", "bdl-1"},
      {"bdl", "entry[1].request", "", "Bundle.entry[1]", "bdl-3"},
      {"bdl", "entry[1].fullUrl", R"("urn:uuid:00000000-0000-4000-8000-000000000001")",
       "Bundle.entry[1].fullUrl", "bdl-7"},
      {"bdl", "type", R"("collection")", "Bundle.entry[0].request", "bdl-3"},
      {"bdl", "entry[2]", R"({"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000003"})",
       "Bundle.entry[2]", "bdl-5"},
  };
  runCases(std::begin(cases), std::end(cases));
}

TEST_CASE("dom-6 is a warning, and can be switched off", "[fhir][validator]") {
  Json r = baseResource("obs");
  r.erase("text");
  Issues issues = validateResource(r);
  CHECK_FALSE(hasErrors(issues));
  CHECK(hasIssue(issues, Severity::kWarning, "Observation", "dom-6"));
  CHECK(hasIssue(issues, Severity::kWarning, "Observation", "narrative"));
  ValidationOptions quiet;
  quiet.warnMissingNarrative = false;
  CHECK(validateResource(r, quiet).empty());
  // Bundles are not DomainResources: no narrative expected.
  CHECK(validateResource(baseResource("bdl")).empty());
}

TEST_CASE("validator checks structure and cardinality", "[fhir][validator]") {
  const Case cases[] = {
      {"obs", "colour", R"("blue")", "Observation.colour", "unknown element 'colour'"},
      {"obs", "valueQuantity.colour", R"("blue")", "Observation.valueQuantity.colour",
       "unknown element"},
      {"obs", "_colour", R"({"id": "a1"})", "Observation._colour", "unknown element"},
      {"obs", "subject", R"([{"reference": "Patient/p1"}])", "Observation.subject", "not an array"},
      {"obs", "category", R"({"text": "survey"})", "Observation.category", "must be an array"},
      {"obs", "status", "", "Observation.status", "missing required element status"},
      {"obs", "code", "", "Observation.code", "missing required element code"},
      {"prov", "agent", "", "Provenance.agent", "missing required element agent (min 1)"},
      {"ms", "medicationCodeableConcept", "", "MedicationStatement.medication[x]",
       "missing required element medication[x]"},
      {"ms", "medicationReference", R"({"reference": "Medication/m1"})",
       "MedicationStatement.medicationReference", "only one variant of medication[x]"},
      {"obs", "valueString", R"("six")", "Observation.valueString", "only one variant of value[x]"},
      {"obs", "valueQuantity", R"("6")", "Observation.valueQuantity", "expected a JSON object"},
      {"obs", "subject", "null", "Observation.subject", "null is not allowed"},
      {"obs", "valueMoney", R"({"value": 1})", "Observation.valueMoney", "unknown element"},
      {"mr", "substitution", R"({"reason": {"text": "x"}})",
       "MedicationRequest.substitution.allowed[x]", "missing required element allowed[x]"},
      // A primitive with an extension only, in the `_name` companion, counts as present.
      {"obs", "status", "", "Observation.status", "missing"},
      {"pat", "_birthDate", R"({"extension": [{"url": "http://example.org/x",
         "valueString": "approx"}]})",
       nullptr, ""},
      {"pat", "_gender", R"({})", "Patient.gender", "ele-1"},
      {"bdl", "entry[0].resource.status", R"("done")", "Bundle.entry[0].resource.status",
       "observation-status"},
      {"bdl", "entry[1].resource.subject", "", "Bundle.entry[1].resource.subject",
       "missing required element subject"},
      {"bdl", "entry[0].resource.resourceType", R"("Appointment")", "Bundle.entry[0].resource",
       "not supported"},
      {"bdl", "entry[0].resource", R"({"status": "final"})", "Bundle.entry[0].resource",
       "resourceType is missing"},
      {"bdl", "id", R"("b1")", nullptr, ""},
      {"bdl", "text",
       R"({"status": "empty", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"/>"})",
       "Bundle.text", "unknown element"},
  };
  runCases(std::begin(cases), std::end(cases));
}

TEST_CASE("validator handles primitive extensions on repeating elements", "[fhir][validator]") {
  Json r = baseResource("pat");
  setAt(&r, "name[0].given", R"(["Alex", null])");
  setAt(&r, "name[0]._given",
        R"([null, {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}])");
  Issues issues = validateResource(r);
  INFO(formatIssues(issues));
  CHECK(issues.empty());
  setAt(&r, "name[0]._given", R"([null])");
  issues = validateResource(r);
  CHECK(hasIssue(issues, Severity::kError, "Patient.name[0].given[1]", "null is not allowed"));
}

TEST_CASE("validator rejects missing and unsupported resource types", "[fhir][validator]") {
  Result<Json> noType = parseJson(R"({"status": "final"})");
  REQUIRE(noType.isOk());
  Issues issues = validateResource(*noType);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].code == "required");
  Result<Json> other = parseJson(R"({"resourceType": "Encounter", "status": "planned"})");
  REQUIRE(other.isOk());
  issues = validateResource(*other);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].code == "not-supported");
  CHECK(issues[0].message.find("Encounter") != std::string::npos);
  CHECK(hasErrors(validateResource(Json::array())));
  CHECK(isSupportedResourceType("CarePlan"));
  CHECK_FALSE(isSupportedResourceType("Encounter"));
}

TEST_CASE("validator collects every issue and caps the count", "[fhir][validator]") {
  Json r = baseResource("obs");
  setAt(&r, "status", R"("done")");
  setAt(&r, "colour", R"("blue")");
  setAt(&r, "subject", "{}");
  Issues issues = validateResource(r);
  CHECK(issues.size() == 3);
  ValidationOptions capped;
  capped.maxIssues = 2;
  issues = validateResource(r, capped);
  REQUIRE(issues.size() == 3);
  CHECK(issues[2].code == "too-costly");
}

TEST_CASE("operationOutcome renders issues", "[fhir][validator]") {
  const Issues issues = {
      {Severity::kError, "code-invalid", "Observation.status", "'done' is not allowed"},
      {Severity::kWarning, "invariant", "Observation", "dom-6: narrative"},
      {Severity::kError, "", "", "no path"},
  };
  const Json oo = operationOutcome(issues);
  CHECK(validateResource(oo).empty());
  const Json* list = oo.find("issue");
  REQUIRE(list != nullptr);
  REQUIRE(list->size() == 3);
  const Json& first = list->items()[0];
  CHECK(first.find("severity")->text() == "error");
  CHECK(first.find("code")->text() == "code-invalid");
  CHECK(first.find("diagnostics")->text() == "'done' is not allowed");
  CHECK(first.find("expression")->items().at(0).text() == "Observation.status");
  CHECK(first.find("location")->items().at(0).text() == "Observation.status");
  CHECK(list->items()[1].find("severity")->text() == "warning");
  const Json& third = list->items()[2];
  CHECK(third.find("code")->text() == "processing");
  CHECK(third.find("expression") == nullptr);

  const Json ok = operationOutcome({});
  CHECK(validateResource(ok).empty());
  REQUIRE(ok.find("issue")->size() == 1);
  CHECK(ok.find("issue")->items()[0].find("severity")->text() == "information");
  CHECK(ok.find("issue")->items()[0].find("code")->text() == "informational");
}
