// The file inbox (gateway/ingest/inbox.h) over a real SQLite store in a temp
// folder, with the shipped mapping tables and example records.

#include "gateway/ingest/inbox.h"

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "gateway/base/clock.h"
#include "gateway/config/tables_dir.h"
#include "gateway/ingest/ingest_pipeline.h"
#include "gateway/server/daemon.h"
#include "gateway/store/sqlite_store.h"
#include "gateway/store/store.h"
#include "tests/support/files.h"

namespace inloop::gateway {
namespace {

namespace fs = std::filesystem;

using inloop::testing::readFile;

// Writes `name` the documented way: a temporary name, then rename.
void dropFile(const fs::path& dir, const std::string& name, const std::string& text) {
  const fs::path tmp = dir / (name + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
  }
  fs::rename(tmp, dir / name);
}

// A valid measurement record (compact, one line) with its own recordId.
std::string measurement(const std::string& recordId, std::int64_t value = 6) {
  fhir::Json doc = *fhir::parseJson(
      readFile(fs::path(INLOOP_SOURCE_DIR) / "examples/records/measurement-pain-nrs.json"));
  doc.set("recordId", fhir::Json::string(recordId));
  doc.set("value", fhir::Json::number(value));
  return fhir::writeJson(doc);
}

// A record that breaks the format at $.measure.
std::string badMeasure(const std::string& recordId) {
  fhir::Json doc = *fhir::parseJson(measurement(recordId));
  doc.set("measure", fhir::Json::string("no-such-measure"));
  return fhir::writeJson(doc);
}

std::vector<std::string> namesIn(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() || e.is_symlink()) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Every issue of an errors file as "expression | diagnostics".
std::vector<std::string> errorIssues(const fs::path& errorsFile) {
  std::vector<std::string> out;
  fhir::Result<fhir::Json> doc = fhir::parseJson(readFile(errorsFile));
  REQUIRE(doc.isOk());
  REQUIRE(doc->find("resourceType") != nullptr);
  CHECK(doc->find("resourceType")->text() == "OperationOutcome");
  const fhir::Json* issues = doc->find("issue");
  REQUIRE(issues != nullptr);
  for (const fhir::Json& i : issues->items()) {
    std::string expr;
    if (const fhir::Json* e = i.find("expression"); e != nullptr && !e->items().empty()) {
      expr = e->items().front().text();
    }
    const fhir::Json* d = i.find("diagnostics");
    out.push_back(expr + " | " + (d != nullptr ? d->text() : std::string()));
  }
  return out;
}

class Fixture {
 public:
  explicit Fixture(InboxOptions options = {}) {
    std::string pattern = (fs::temp_directory_path() / "inloop-inbox-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    root_ = pattern;
    auto opened = openSqliteStore((root_ / "inloop.db").string(), {}, clock_);
    REQUIRE(opened.isOk());
    store_ = std::move(opened).value();
    MappingTablesRead read =
        readMappingTablesDir((fs::path(INLOOP_SOURCE_DIR) / "config/mappings").string());
    REQUIRE(read.tables != nullptr);
    tables_.replace(read.tables);
    pipeline_ = std::make_unique<IngestPipeline>(*store_, tables_, IngestLimits{});
    options.dir = (root_ / "inbox").string();
    inbox_ = std::make_unique<Inbox>(*pipeline_, options);
    REQUIRE(inbox_->prepare().isOk());
  }
  ~Fixture() {
    inbox_.reset();
    pipeline_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  fs::path dir() const { return root_ / "inbox"; }
  fs::path processed() const { return dir() / "processed"; }
  fs::path rejected() const { return dir() / "rejected"; }
  Inbox& inbox() { return *inbox_; }
  Store& store() { return *store_; }

  std::vector<InboxFileResult> scan() {
    auto r = inbox_->scanOnce();
    REQUIRE(r.isOk());
    return std::move(r).value();
  }
  bool stored(const std::string& recordId) { return store_->getRecord(recordId).isOk(); }
  std::int64_t versions() {
    auto s = store_->stats();
    REQUIRE(s.isOk());
    return s->versions;
  }

 private:
  fs::path root_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  MappingTablesHolder tables_;
  std::unique_ptr<IngestPipeline> pipeline_;
  std::unique_ptr<Inbox> inbox_;
};

}  // namespace

TEST_CASE("inbox file names are taken, ignored or refused as hostile", "[gateway][inbox]") {
  struct Case {
    std::string name;
    InboxName expected;
  };
  const std::vector<Case> cases = {
      {"export-0001.json", InboxName::kTake},
      {"export-0001.ndjson", InboxName::kTake},
      {"export-0001.json.tmp", InboxName::kIgnore},
      {".export-0001.json", InboxName::kIgnore},
      {"export.JSON", InboxName::kIgnore},
      {"export.txt", InboxName::kIgnore},
      {"export.errors.json", InboxName::kIgnore},
      {"..", InboxName::kIgnore},
      {"a..b.json", InboxName::kHostile},
      {"bad\x01name.json", InboxName::kHostile},
      {"tab\tname.json", InboxName::kHostile},
      {"back\\slash.json", InboxName::kHostile},
      {std::string(195, 'a') + ".json", InboxName::kTake},  // exactly 200 bytes
      {std::string(196, 'a') + ".json", InboxName::kHostile},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(classifyInboxName(c.name) == c.expected);
  }
}

TEST_CASE("inbox happy path: a .json and an .ndjson file are stored and moved to processed/",
          "[gateway][inbox]") {
  Fixture f;
  dropFile(f.dir(), "one.json", measurement("INBOX-1"));
  dropFile(f.dir(), "many.ndjson",
           measurement("INBOX-2") + "\n" + measurement("INBOX-3") + "\n\n" +
               measurement("INBOX-4") + "\n");

  std::vector<InboxFileResult> results = f.scan();
  REQUIRE(results.size() == 2);
  // Name order: many.ndjson, one.json.
  CHECK(results[0].name == "many.ndjson");
  CHECK(results[0].outcome == InboxFileOutcome::kProcessed);
  CHECK(results[0].accepted == 3);
  CHECK(results[1].name == "one.json");
  CHECK(results[1].outcome == InboxFileOutcome::kProcessed);
  CHECK(results[1].accepted == 1);
  CHECK(results[1].movedTo == (f.processed() / "one.json").string());

  for (const char* id : {"INBOX-1", "INBOX-2", "INBOX-3", "INBOX-4"}) {
    INFO(id);
    CHECK(f.stored(id));
  }
  CHECK(namesIn(f.processed()) == std::vector<std::string>{"many.ndjson", "one.json"});
  CHECK(namesIn(f.dir()).empty());
  CHECK(namesIn(f.rejected()).empty());

  auto audit = f.store().listAudit(10);
  REQUIRE(audit.isOk());
  std::set<std::string> sources;
  for (const AuditEntry& e : *audit) {
    CHECK(e.principal == "inbox");
    sources.insert(e.source);
  }
  CHECK(sources == std::set<std::string>{"inbox:many.ndjson", "inbox:one.json"});

  InboxStats s = f.inbox().stats();
  CHECK(s.filesProcessed == 2);
  CHECK(s.filesRejected == 0);
  CHECK(s.recordsAccepted == 4);

  // Nothing left: a second scan does nothing.
  CHECK(f.scan().empty());
}

TEST_CASE("inbox rejects an invalid record with an errors file naming the path",
          "[gateway][inbox]") {
  Fixture f;
  dropFile(f.dir(), "bad.json", badMeasure("INBOX-BAD"));
  std::vector<InboxFileResult> results = f.scan();
  REQUIRE(results.size() == 1);
  CHECK(results[0].outcome == InboxFileOutcome::kRejected);
  CHECK(results[0].refused == 1);
  CHECK_FALSE(f.stored("INBOX-BAD"));
  CHECK(namesIn(f.rejected()) == std::vector<std::string>{"bad.json", "bad.json.errors.json"});
  CHECK(results[0].errorsFile == (f.rejected() / "bad.json.errors.json").string());
  std::vector<std::string> issues = errorIssues(f.rejected() / "bad.json.errors.json");
  REQUIRE_FALSE(issues.empty());
  bool namesMeasure = false;
  for (const std::string& i : issues) namesMeasure = namesMeasure || i.rfind("$.measure", 0) == 0;
  INFO(issues.front());
  CHECK(namesMeasure);
}

TEST_CASE("inbox mixed NDJSON: good lines stored, only bad lines listed with line numbers",
          "[gateway][inbox]") {
  // batchRecords 2 splits the file into several store calls: line numbers must
  // still be the file's.
  for (std::size_t batch : {std::size_t{1000}, std::size_t{2}}) {
    INFO("batchRecords " << batch);
    InboxOptions options;
    options.batchRecords = batch;
    Fixture f(options);
    const std::string text = measurement("MIX-1") + "\n" +  // line 1 good
                             badMeasure("MIX-2") + "\n" +   // line 2 invalid
                             "\n" +                         // line 3 blank
                             "{not json\n" +                // line 4 malformed
                             measurement("MIX-5") + "\n" +  // line 5 good
                             measurement("MIX-6");          // line 6 good, no final newline
    dropFile(f.dir(), "mixed.ndjson", text);
    std::vector<InboxFileResult> results = f.scan();
    REQUIRE(results.size() == 1);
    CHECK(results[0].outcome == InboxFileOutcome::kRejected);
    CHECK(results[0].accepted == 3);
    CHECK(results[0].refused == 2);
    CHECK(f.stored("MIX-1"));
    CHECK(f.stored("MIX-5"));
    CHECK(f.stored("MIX-6"));
    CHECK_FALSE(f.stored("MIX-2"));
    CHECK(namesIn(f.rejected()) ==
          std::vector<std::string>{"mixed.ndjson", "mixed.ndjson.errors.json"});

    std::set<std::string> lines;
    bool measurePath = false;
    for (const std::string& i : errorIssues(f.rejected() / "mixed.ndjson.errors.json")) {
      INFO(i);
      REQUIRE(i.rfind("line ", 0) == 0);
      lines.insert(i.substr(0, i.find(':')));
      measurePath = measurePath || i.rfind("line 2: $.measure", 0) == 0;
    }
    CHECK(lines == std::set<std::string>{"line 2", "line 4"});
    CHECK(measurePath);
  }
}

TEST_CASE("inbox ignores a file being written until it is renamed", "[gateway][inbox]") {
  Fixture f;
  {
    std::ofstream out(f.dir() / "late.json.tmp", std::ios::binary);
    out << measurement("LATE-1").substr(0, 40);  // half written
  }
  {
    std::ofstream out(f.dir() / ".hidden.json", std::ios::binary);
    out << "{";
  }
  CHECK(f.scan().empty());
  CHECK(namesIn(f.dir()) == std::vector<std::string>{".hidden.json", "late.json.tmp"});
  CHECK_FALSE(f.stored("LATE-1"));

  {
    std::ofstream out(f.dir() / "late.json.tmp", std::ios::binary | std::ios::trunc);
    out << measurement("LATE-1");
  }
  fs::rename(f.dir() / "late.json.tmp", f.dir() / "late.json");
  std::vector<InboxFileResult> results = f.scan();
  REQUIRE(results.size() == 1);
  CHECK(results[0].outcome == InboxFileOutcome::kProcessed);
  CHECK(f.stored("LATE-1"));
  CHECK(namesIn(f.dir()) == std::vector<std::string>{".hidden.json"});
}

TEST_CASE("inbox reprocessing the same file is a replay, never a duplicate", "[gateway][inbox]") {
  Fixture f;
  const std::string text = measurement("REP-1") + "\n" + measurement("REP-2") + "\n";
  dropFile(f.dir(), "export.ndjson", text);
  REQUIRE(f.scan().size() == 1);
  CHECK(f.versions() == 2);

  // As after a crash between the store's acknowledgement and the move: the
  // same file arrives again.
  dropFile(f.dir(), "export.ndjson", text);
  std::vector<InboxFileResult> results = f.scan();
  REQUIRE(results.size() == 1);
  CHECK(results[0].outcome == InboxFileOutcome::kProcessed);
  CHECK(results[0].accepted == 0);
  CHECK(results[0].replayed == 2);
  CHECK(f.versions() == 2);
  // The second copy does not overwrite the first.
  CHECK(namesIn(f.processed()) == std::vector<std::string>{"export-2.ndjson", "export.ndjson"});

  // Same recordId+version with other content is a conflict: rejected.
  dropFile(f.dir(), "changed.json", measurement("REP-1", 9));
  results = f.scan();
  REQUIRE(results.size() == 1);
  CHECK(results[0].outcome == InboxFileOutcome::kRejected);
  CHECK(results[0].refused == 1);
  CHECK(f.versions() == 2);
}

TEST_CASE("inbox moves hostile names and links to rejected/ under a safe name unread",
          "[gateway][inbox]") {
  Fixture f;
  const std::vector<std::string> hostile = {"evil\x01name.json", "a..b.ndjson",
                                            std::string(220, 'x') + ".json"};
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    std::ofstream out(f.dir() / hostile[i], std::ios::binary);
    out << measurement("HOSTILE-" + std::to_string(i));
  }
  const fs::path outside = f.dir().parent_path() / "outside.json";
  {
    std::ofstream out(outside, std::ios::binary);
    out << measurement("LINKED-1");
  }
  fs::create_symlink(outside, f.dir() / "link.json");

  std::vector<InboxFileResult> results = f.scan();
  REQUIRE(results.size() == 4);
  for (const InboxFileResult& r : results) {
    INFO(r.name);
    CHECK(r.outcome == InboxFileOutcome::kRejected);
    CHECK(r.accepted == 0);
    CHECK(r.name.find('\x01') == std::string::npos);
    REQUIRE_FALSE(r.errorsFile.empty());
    std::vector<std::string> issues = errorIssues(r.errorsFile);
    REQUIRE(issues.size() == 1);
  }
  for (std::size_t i = 0; i < hostile.size(); ++i)
    CHECK_FALSE(f.stored("HOSTILE-" + std::to_string(i)));
  CHECK_FALSE(f.stored("LINKED-1"));
  CHECK(fs::exists(outside));  // the link's target is untouched
  CHECK(namesIn(f.dir()).empty());

  int generated = 0;
  for (const std::string& n : namesIn(f.rejected())) {
    INFO(n);
    CHECK(n.size() <= kMaxInboxNameBytes + 12);
    CHECK(n.find("..") == std::string::npos);
    if (n.rfind("unsafe-name-", 0) == 0 && n.find(".errors.json") == std::string::npos) {
      ++generated;
    }
  }
  CHECK(generated == 3);
  CHECK(fs::is_symlink(f.rejected() / "link.json"));
}

TEST_CASE("inbox rejects an oversized file without reading it", "[gateway][inbox]") {
  InboxOptions options;
  options.maxFileBytes = 100;
  Fixture f(options);
  dropFile(f.dir(), "big.json", measurement("BIG-1"));
  std::vector<InboxFileResult> results = f.scan();
  REQUIRE(results.size() == 1);
  CHECK(results[0].outcome == InboxFileOutcome::kRejected);
  CHECK(results[0].reason.find("limit is 100") != std::string::npos);
  CHECK_FALSE(f.stored("BIG-1"));
  std::vector<std::string> issues = errorIssues(f.rejected() / "big.json.errors.json");
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].find("limit is 100") != std::string::npos);
}

TEST_CASE("inbox empty NDJSON file is rejected", "[gateway][inbox]") {
  Fixture f;
  dropFile(f.dir(), "empty.ndjson", "\n\n");
  std::vector<InboxFileResult> results = f.scan();
  REQUIRE(results.size() == 1);
  CHECK(results[0].outcome == InboxFileOutcome::kRejected);
  CHECK(fs::exists(f.rejected() / "empty.ndjson.errors.json"));
}

TEST_CASE("inbox background thread scans on request", "[gateway][inbox]") {
  InboxOptions options;
  options.pollIntervalMs = 3'600'000;  // only requests wake it
  Fixture f(options);
  REQUIRE(f.inbox().start().isOk());
  dropFile(f.dir(), "bg.json", measurement("BG-1"));
  f.inbox().requestScanAndWait();
  CHECK(f.stored("BG-1"));
  CHECK(fs::exists(f.processed() / "bg.json"));
  CHECK(f.inbox().stats().filesProcessed == 1);
  f.inbox().stop();
  f.inbox().stop();  // idempotent
}

}  // namespace inloop::gateway
