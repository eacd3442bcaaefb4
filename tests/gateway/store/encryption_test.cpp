// Encryption of stored payloads (issue 16 item 6; gateway/store/payload_cipher.h,
// docs/security.md): the key file, AES-256-GCM sealing, the store's payload
// columns, `inloop keygen` / `inloop rekey`, and the daemon end to end: a
// patient's name is in no file of the data directory while every read still
// shows it.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "fhir/json.h"
#include "gateway/base/base64.h"
#include "gateway/base/clock.h"
#include "gateway/base/sha256.h"
#include "gateway/config/daemon_config.h"
#include "gateway/config/payload_keys.h"
#include "gateway/store/payload_cipher.h"
#include "gateway/store/sqlite_store.h"
#include "tests/gateway/support/cli_run.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

namespace fs = std::filesystem;
using inloop::fhir::ErrorCode;
using inloop::fhir::Json;
using inloop::gateway::PayloadCipher;
using inloop::gateway::PayloadKeyRing;
using inloop::server_testing::filesHolding;
using inloop::server_testing::readFile;

// 32 bytes of 0x01..0x20 and of 0x41..0x60, base64.
const std::string kKeyA = inloop::gateway::base64Encode(
    "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"
    "\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20");
const std::string kKeyB = inloop::gateway::base64Encode("ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`");

std::shared_ptr<const PayloadKeyRing> ring(const std::string& text) {
  inloop::fhir::Issues issues;
  auto parsed = PayloadKeyRing::parse(text, "keys", &issues);
  INFO(inloop::fhir::formatIssues(issues));
  REQUIRE(parsed.isOk());
  return std::make_shared<const PayloadKeyRing>(std::move(*parsed));
}

}  // namespace

TEST_CASE("base64Decode is the strict inverse of base64Encode", "[gateway][encryption]") {
  using inloop::gateway::base64Decode;
  using inloop::gateway::base64Encode;
  std::string bytes;
  for (int n = 0; n < 70; ++n) {
    const std::string text = base64Encode(bytes);
    auto back = base64Decode(text);
    REQUIRE(back.has_value());
    CHECK(*back == bytes);
    bytes += static_cast<char>(n * 37 + 11);
  }
  CHECK_FALSE(base64Decode("QQ=").has_value());       // length not a multiple of 4
  CHECK_FALSE(base64Decode("QQ==QQ==").has_value());  // padding in the middle
  CHECK_FALSE(base64Decode("Q-==").has_value());      // URL alphabet
  CHECK_FALSE(base64Decode("QR==").has_value());      // unused bits set
  CHECK_FALSE(base64Decode("QQ= ").has_value());
  CHECK(base64Decode("QQ==").value() == "A");
}

TEST_CASE("payload key file: keys in order, problems at FILE:LINE:COLUMN",
          "[gateway][encryption]") {
  inloop::fhir::Issues issues;
  auto keys = PayloadKeyRing::parse("# comment\n\nk2 " + kKeyB + "\n  k1\t" + kKeyA + "  \r\n",
                                    "keys.txt", &issues);
  REQUIRE(keys.isOk());
  CHECK(issues.empty());
  REQUIRE(keys->keys().size() == 2);
  CHECK(keys->current().id == "k2");
  CHECK(keys->find("k1") != nullptr);
  CHECK(keys->find("k3") == nullptr);

  struct Bad {
    std::string text;
    std::string path;
    std::string words;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"k1 " + kKeyA + "\nk2\n", "keys.txt:2:1", "expected"},
           {"bad/id " + kKeyA + "\n", "keys.txt:1:1", "key id"},
           {"k1 " + kKeyA.substr(4) + "\n", "keys.txt:1:4", "32 bytes"},
           {"k1 " + kKeyA + "\n  k1 " + kKeyB + "\n", "keys.txt:2:3", "twice"},
           {"# nothing here\n", "keys.txt:1:1", "no key"},
       }) {
    inloop::fhir::Issues found;
    CHECK_FALSE(PayloadKeyRing::parse(bad.text, "keys.txt", &found).isOk());
    REQUIRE(found.size() == 1);
    CHECK(found[0].path == bad.path);
    CHECK(found[0].message.find(bad.words) != std::string::npos);
    // The key never appears in a message.
    CHECK(found[0].message.find(kKeyB.substr(0, 20)) == std::string::npos);
  }
}

TEST_CASE("payload cipher: AES-256-GCM bound to its column and key id", "[gateway][encryption]") {
  const PayloadCipher cipher(ring("k2 " + kKeyB + "\nk1 " + kKeyA + "\n"));
  const std::string plain = R"({"patient":{"name":"Zyxciphertest"}})";
  auto sealed = cipher.seal("record_versions.record_json", plain);
  REQUIRE(sealed.isOk());
  CHECK(sealed->rfind("inloop:aes256gcm:k2:", 0) == 0);
  CHECK(sealed->find("Zyxciphertest") == std::string::npos);
  CHECK(*cipher.seal("record_versions.record_json", plain) != *sealed);  // a fresh nonce each time
  CHECK(cipher.open("record_versions.record_json", *sealed).value() == plain);
  CHECK(cipher.open("record_versions.record_json", "{\"plain\":1}").value() == "{\"plain\":1}");
  CHECK(cipher.open("notices.text", *cipher.seal("notices.text", "")).value().empty());
  const std::string big(300000, 'x');
  CHECK(cipher.open("attempts.request", *cipher.seal("attempts.request", big)).value() == big);

  // Moved to another column: refused.
  auto moved = cipher.open("translations.bundle_json", *sealed);
  CHECK(moved.status().code() == ErrorCode::kIoError);
  // One character changed: refused.
  std::string altered = *sealed;
  altered[altered.size() - 6] = altered[altered.size() - 6] == 'A' ? 'B' : 'A';
  CHECK(cipher.open("record_versions.record_json", altered).status().code() == ErrorCode::kIoError);
  // Relabelled with the other key's id: refused.
  std::string relabelled = *sealed;
  relabelled.replace(0, std::string("inloop:aes256gcm:k2").size(), "inloop:aes256gcm:k1");
  CHECK(cipher.open("record_versions.record_json", relabelled).status().code() ==
        ErrorCode::kIoError);
  // Under an older key of the ring.
  auto old = cipher.sealWith("k1", "notices.text", "older");
  CHECK(old->rfind("inloop:aes256gcm:k1:", 0) == 0);
  CHECK(cipher.open("notices.text", *old).value() == "older");

  // A ring without the value's key, and no ring at all: unavailable, naming the key.
  const PayloadCipher onlyA(ring("k1 " + kKeyA + "\n"));
  auto missing = onlyA.open("record_versions.record_json", *sealed);
  CHECK(missing.status().code() == ErrorCode::kUnavailable);
  CHECK(missing.status().message().find("\"k2\"") != std::string::npos);
  const PayloadCipher none;
  CHECK(none.seal("notices.text", "as is").value() == "as is");
  CHECK(none.open("record_versions.record_json", *sealed).status().code() ==
        ErrorCode::kUnavailable);
}

TEST_CASE("store: payloads sealed in the file, plaintext to readers, rekey and decrypt",
          "[gateway][encryption][store]") {
  using namespace inloop::gateway;
  inloop::server_testing::TempDir dir;
  const std::string path = (dir.path() / "inloop.db").string();
  SystemClock clock;
  auto openWith = [&](std::shared_ptr<const PayloadKeyRing> keys, std::string keyFile = "") {
    SqliteStoreOptions options;
    options.payloadKeys = std::move(keys);
    options.payloadKeyFile = std::move(keyFile);
    auto store = openSqliteStore(path, options, clock);
    INFO(store.status().toString());
    REQUIRE(store.isOk());
    return std::move(store).value();
  };
  auto item = [](const std::string& id, const std::string& name) {
    IngestItem it;
    it.recordId = id;
    it.version = 1;
    it.recordType = "medication-change";
    it.practiceId = "practice-1";
    it.patientKey = "mrn-" + id;
    it.recordJson = R"({"recordId":")" + id + R"(","name":")" + name + R"("})";
    it.contentHash = sha256Hex(it.recordJson).value();
    it.bundleJson = R"({"resourceType":"Bundle","note":")" + name + R"("})";
    it.destinations = {DestinationTarget{"d1", OutboxState::kPending, ""}};
    it.principal = "clinic-export";
    it.source = "http";
    it.medicationListJson = R"({"list":")" + name + R"("})";
    it.notices.push_back(StoredNotice{"", 0, "", "managed-effect", "urgent", "notice/" + id,
                                      "2026-12-01", "Notice about " + name, 0});
    return it;
  };
  const auto keysA = ring("k1 " + kKeyA + "\n");
  const auto keysBA = ring("k2 " + kKeyB + "\nk1 " + kKeyA + "\n");
  const auto keysB = ring("k2 " + kKeyB + "\n");

  {
    // Written before encryption was turned on: plaintext.
    auto store = openWith(nullptr);
    REQUIRE(store->ingest({item("R-PLAIN", "Zyxplainone")}).isOk());
  }
  {
    auto store = openWith(keysA);
    REQUIRE(store->ingest({item("R-SEALED", "Zyxsealedtwo")}).isOk());
    // The ledger's request, answer and OperationOutcome are sealed too.
    auto claimed = store->claimDue("d1", clock.nowMillis() + 1, 10, 60000);
    REQUIRE(claimed.isOk());
    REQUIRE(claimed->size() == 2);
    for (const OutboxMessage& m : *claimed) {
      CHECK(m.recordJson.find("Zyx") != std::string::npos);  // opened for the sender
      DeliveryAttempt a;
      a.messageId = m.messageId;
      a.outcome = AttemptOutcome::kDeadLetter;
      a.httpStatus = 422;
      a.operationOutcome = R"({"resourceType":"OperationOutcome","text":"Zyxanswerthree"})";
      a.response = "HTTP 422 Zyxanswerthree";
      a.request = m.bundleJson;
      REQUIRE(store->finishAttempt(a).isOk());
    }
    auto view = store->getRecord("R-SEALED");
    REQUIRE(view.isOk());
    CHECK(view->recordJson.find("Zyxsealedtwo") != std::string::npos);
    CHECK(view->bundleJson.find("Zyxsealedtwo") != std::string::npos);
    CHECK(store->getMedicationList("mrn-R-SEALED")->listJson.find("Zyxsealedtwo") !=
          std::string::npos);
    CHECK(store->listRecordNotices("R-SEALED")->at(0).text == "Notice about Zyxsealedtwo");
    auto attempts = store->listAttempts("R-SEALED", 10);
    REQUIRE(attempts->size() == 1);
    CHECK(attempts->at(0).response == "HTTP 422 Zyxanswerthree");
    CHECK(attempts->at(0).request.find("Zyxsealedtwo") != std::string::npos);
    auto dead = store->getDeadLetter(attempts->at(0).messageId);
    REQUIRE(dead.isOk());
    CHECK(dead->operationOutcome.find("Zyxanswerthree") != std::string::npos);
    CHECK(store->listPatientRecords("mrn-R-SEALED", "", 5)->at(0).recordJson.find("Zyxsealedtwo") !=
          std::string::npos);
  }
  // Only the record written before encryption is readable in the files.
  CHECK(filesHolding(dir.path(), "Zyxsealedtwo").empty());
  CHECK(filesHolding(dir.path(), "Zyxanswerthree").empty());
  CHECK_FALSE(filesHolding(dir.path(), "Zyxplainone").empty());

  {
    // No key: the sealed record cannot be read, and the message says why.
    auto store = openWith(nullptr);
    auto view = store->getRecord("R-SEALED");
    CHECK(view.status().code() == ErrorCode::kUnavailable);
    CHECK(view.status().message().find("\"k1\"") != std::string::npos);
    CHECK(store->getRecord("R-PLAIN").isOk());
    // Sealing needs a key.
    CHECK(store->rekeyPayloads(false, false).status().code() == ErrorCode::kInvalid);
  }
  {
    // Rotation: k2 seals; everything (the plaintext record too) is sealed again.
    auto store = openWith(keysBA);
    auto dry = store->rekeyPayloads(false, true);
    REQUIRE(dry.isOk());
    CHECK(dry->changed == 0);
    CHECK(dry->valuesByKey.at("") > 0);
    CHECK(dry->valuesByKey.at("k1") > 0);
    CHECK(dry->valuesByKey.count("k2") == 0);
    auto run = store->rekeyPayloads(false, false);
    REQUIRE(run.isOk());
    CHECK(run->changed == dry->valuesByKey.at("") + dry->valuesByKey.at("k1"));
    CHECK(store->rekeyPayloads(false, true)->valuesByKey ==
          std::map<std::string, std::int64_t>{{"k2", run->changed}});
  }
  CHECK(filesHolding(dir.path(), "Zyxplainone").empty());
  CHECK(filesHolding(dir.path(), "Zyxsealedtwo").empty());
  {
    // k1 is no longer needed.
    auto store = openWith(keysB);
    CHECK(store->getRecord("R-PLAIN")->recordJson.find("Zyxplainone") != std::string::npos);
    CHECK(store->getRecord("R-SEALED")->recordJson.find("Zyxsealedtwo") != std::string::npos);
    // And back to plaintext.
    auto run = store->rekeyPayloads(true, false);
    REQUIRE(run.isOk());
    CHECK(run->targetKeyId.empty());
  }
  {
    auto store = openWith(nullptr);
    CHECK(store->getRecord("R-SEALED")->recordJson.find("Zyxsealedtwo") != std::string::npos);
    CHECK(store->listAttempts("R-SEALED", 10)->at(0).response == "HTTP 422 Zyxanswerthree");
  }
}

TEST_CASE("store: a key added after the start is read from the key file when first met",
          "[gateway][encryption][store]") {
  using namespace inloop::gateway;
  inloop::server_testing::TempDir dir;
  const std::string path = (dir.path() / "inloop.db").string();
  const fs::path keyFile = dir.path() / "payload.keys";
  inloop::server_testing::writeFile(keyFile, "k1 " + kKeyA + "\n");
  SystemClock clock;
  SqliteStoreOptions options;
  options.payloadKeys = ring("k1 " + kKeyA + "\n");
  options.payloadKeyFile = keyFile.string();
  auto running = openSqliteStore(path, options, clock);
  REQUIRE(running.isOk());
  IngestItem it;
  it.recordId = "R-1";
  it.version = 1;
  it.recordType = "measurement";
  it.practiceId = "p";
  it.patientKey = "mrn-1";
  it.recordJson = R"({"recordId":"R-1","name":"Zyxreloadtest"})";
  it.contentHash = sha256Hex(it.recordJson).value();
  it.bundleJson = "{}";
  it.principal = "t";
  it.source = "http";
  REQUIRE((*running)->ingest({it}).isOk());
  // Another process adds k2 and seals everything under it.
  inloop::server_testing::writeFile(keyFile, "k2 " + kKeyB + "\nk1 " + kKeyA + "\n");
  {
    SqliteStoreOptions other;
    other.payloadKeys = ring("k2 " + kKeyB + "\nk1 " + kKeyA + "\n");
    auto rekeyer = openSqliteStore(path, other, clock);
    REQUIRE(rekeyer.isOk());
    REQUIRE((*rekeyer)->rekeyPayloads(false, false).isOk());
  }
  auto view = (*running)->getRecord("R-1");
  INFO(view.status().toString());
  REQUIRE(view.isOk());
  CHECK(view->recordJson.find("Zyxreloadtest") != std::string::npos);
}

TEST_CASE("keygen, check-config and rekey, with the daemon serving an encrypted store",
          "[gateway][encryption][cli]") {
  using inloop::server_testing::DaemonFixture;
  using inloop::server_testing::kAdminToken;
  using inloop::testing::runInloop;
  inloop::server_testing::TempDir keys;
  const std::string keyFile = (keys.path() / "payload.keys").string();

  auto made = runInloop({"keygen", keyFile, "--id", "k1"});
  INFO(made.out << made.err);
  REQUIRE(made.code == 0);
  CHECK(made.out.find("key \"k1\" added") != std::string::npos);
  struct stat st {};
  REQUIRE(::stat(keyFile.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const std::string firstKeyLine = readFile(keyFile);
  CHECK(runInloop({"keygen", keyFile, "--id", "k1"}).code == 2);  // the id exists
  CHECK(runInloop({"keygen", keyFile, "--id", "no/slash"}).code == 2);
  CHECK(readFile(keyFile) == firstKeyLine);  // refused: unchanged

  inloop::server_testing::TempDir files;
  inloop::server_testing::writeFile(files.path() / "destinations.json",
                                    R"({"destinations": [{"id": "files", "kind": "ndjson-dir",
  "endpoint": ")" + (files.path() / "out").string() +
                                        R"(", "rotation": {"maxBytes": 1024}}],
  "routes": {"*": ["files"]}})");
  DaemonFixture daemon([&](inloop::gateway::DaemonConfig& c) {
    c.destinationsFile = (files.path() / "destinations.json").string();
    c.encryption.keyFile = keyFile;
  });
  REQUIRE(daemon.startError().empty());
  const fs::path dataDir = daemon.tmp() / "data";
  Json record =
      *inloop::fhir::parseJson(inloop::server_testing::exampleRecord("measurement-pain-nrs.json"));
  record.set("recordId", Json::string("ENC-1"));
  record.find("patient")->find("name")->set("family", Json::string("Zyxencrypttest"));
  REQUIRE(daemon.request("POST", "/records", kAdminToken, inloop::fhir::writeJson(record)).status ==
          202);
  REQUIRE(inloop::delivery_testing::waitUntil(
      daemon.changes(),
      [&] { return inloop::delivery_testing::stateAt(daemon, "ENC-1", "files") == "delivered"; },
      30));
  auto read = daemon.request("GET", "/records/ENC-1", kAdminToken);
  CHECK(read.body.find("Zyxencrypttest") != std::string::npos);
  CHECK(filesHolding(dataDir, "Zyxencrypttest").empty());

  // A configuration for the CLI: the same data directory and key file.
  const fs::path config = keys.path() / "inloop.json";
  inloop::server_testing::writeFile(config, R"({"dataDir": ")" + dataDir.string() +
                                                R"(", "encryption": {"keyFile": ")" + keyFile +
                                                R"("}})");
  // A second key, then every payload sealed under it while the daemon serves.
  REQUIRE(runInloop({"keygen", keyFile, "--id", "k2"}).code == 0);
  auto dry = runInloop({"rekey", "--dry-run", "--config", config.string()});
  INFO(dry.out << dry.err);
  REQUIRE(dry.code == 0);
  CHECK(dry.out.find("under key \"k1\"") != std::string::npos);
  CHECK(dry.out.find("would change") != std::string::npos);
  auto applied = runInloop({"rekey", "--apply", "--config", config.string()});
  INFO(applied.out << applied.err);
  REQUIRE(applied.code == 0);
  CHECK(applied.out.find("sealed under key \"k2\"") != std::string::npos);
  auto after = runInloop({"rekey", "--dry-run", "--config", config.string()});
  CHECK(after.out.find("under key \"k1\"") == std::string::npos);
  CHECK(after.out.find("would change 0 value(s)") != std::string::npos);
  // The daemon, started with k1 only, reads what k2 sealed.
  read = daemon.request("GET", "/records/ENC-1", kAdminToken);
  CHECK(read.status == 200);
  CHECK(read.body.find("Zyxencrypttest") != std::string::npos);
  CHECK(filesHolding(dataDir, "Zyxencrypttest").empty());
  // The CLI reads through the key file too.
  auto status = runInloop({"status", "--config", config.string()});
  CHECK(status.code == 0);

  // check-config: a key file inside the data directory, and a bad key line.
  const fs::path tree = keys.path() / "tree";
  fs::create_directories(tree);
  fs::copy(daemon.mappingsDir(), tree / "mappings", fs::copy_options::recursive);
  inloop::server_testing::writeFile(tree / "inside.keys", "k1 " + kKeyA + "\nk2 tooshort\n");
  inloop::server_testing::writeFile(
      tree / "inloop.json",
      R"({"dataDir": ")" + tree.string() + R"(", "encryption": {"keyFile": "inside.keys"}})");
  auto checked = runInloop({"check-config", tree.string()});
  INFO(checked.out << checked.err);
  CHECK(checked.code == 1);
  CHECK((checked.out + checked.err).find("inside the data directory") != std::string::npos);
  CHECK((checked.out + checked.err).find("inside.keys:2:4") != std::string::npos);
}
