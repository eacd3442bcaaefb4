// `inloop backup FILE [--config FILE | --data-dir DIR]`: a consistent copy of
// the store (dataDir/inloop.db) taken while `inloop serve` runs, with SQLite's
// online backup API. The copy is one read snapshot of the database (WAL mode:
// writers go on while it is taken; every record acknowledged before the
// backup began is in it), written to FILE.tmp, checked with PRAGMA
// integrity_check, fsynced, made 0600 and renamed to FILE. An existing FILE
// is never overwritten.
//
// Restore (docs/reliability.md): stop the daemon, move dataDir/inloop.db and
// its -wal/-shm files away, copy the backup to dataDir/inloop.db, start it.
//
// Exit codes: 0 written; 2 usage or configuration error, or FILE exists;
// 3 the store cannot be read or the copy cannot be written or checked.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "gateway/base/durable_file.h"
#include "gateway/cli/cli.h"
#include "gateway/cli/cli_support.h"
#include "gateway/cli/commands.h"
#include "gateway/config/daemon_config.h"

namespace inloop::gateway {

namespace {

constexpr const char* kBackupUsage = "usage: inloop backup FILE [--config FILE | --data-dir DIR]\n";

struct BackupArgs {
  std::string target;
  std::string configPath;
  std::string dataDir;
};

// An open SQLite connection, closed on scope exit.
struct Connection {
  sqlite3* db = nullptr;
  ~Connection() {
    if (db != nullptr) sqlite3_close(db);
  }
  std::string error() const { return db != nullptr ? sqlite3_errmsg(db) : "out of memory"; }
};

// The copy of `source` (opened read-only) in `tmp`, checked; "" when fine,
// else what went wrong.
std::string copyStore(const std::string& source, const std::string& tmp) {
  Connection from;
  if (sqlite3_open_v2(source.c_str(), &from.db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    return "cannot open the store " + source + ": " + from.error();
  }
  sqlite3_busy_timeout(from.db, 10000);
  Connection to;
  if (sqlite3_open_v2(tmp.c_str(), &to.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    return "cannot create " + tmp + ": " + to.error();
  }
  sqlite3_backup* backup = sqlite3_backup_init(to.db, "main", from.db, "main");
  if (backup == nullptr) return "cannot start the backup: " + to.error();
  // One step copies every page inside one read transaction: a consistent
  // snapshot, never restarted by the daemon's writes.
  const int stepped = sqlite3_backup_step(backup, -1);
  const int finished = sqlite3_backup_finish(backup);
  if (stepped != SQLITE_DONE || finished != SQLITE_OK) {
    return "the backup failed: " +
           std::string(sqlite3_errstr(stepped != SQLITE_DONE ? stepped : finished));
  }
  // The copy stands alone: no -wal file next to it.
  char* message = nullptr;
  if (sqlite3_exec(to.db, "PRAGMA journal_mode=DELETE", nullptr, nullptr, &message) != SQLITE_OK) {
    std::string why = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    return "cannot finish the copy: " + why;
  }
  sqlite3_stmt* check = nullptr;
  if (sqlite3_prepare_v2(to.db, "PRAGMA integrity_check", -1, &check, nullptr) != SQLITE_OK) {
    return "cannot check the copy: " + to.error();
  }
  std::string verdict;
  if (sqlite3_step(check) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(check, 0);
    verdict = text != nullptr ? reinterpret_cast<const char*>(text) : "";
  }
  sqlite3_finalize(check);
  if (verdict != "ok") return "the copy fails integrity_check: " + verdict;
  return {};
}

}  // namespace

int cmdBackup(CommandContext& ctx) {
  BackupArgs args;
  std::string problem;
  if (!parseCliOptions(ctx.args, {{"--config", &args.configPath}, {"--data-dir", &args.dataDir}},
                       "FILE", &args.target, &problem)) {
    ctx.err << "inloop backup: " << problem << "\n" << kBackupUsage;
    return kExitUsage;
  }
  std::optional<DaemonConfig> loaded = loadCliConfig(args.configPath, ctx.err);
  if (!loaded) return kExitUsage;
  const std::string dataDir = args.dataDir.empty() ? loaded->dataDir : args.dataDir;
  const std::string source = storePathIn(dataDir);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(source, ec)) {
    ctx.err << "inloop backup: no store at " << source << "\n";
    return kExitFailure;
  }
  if (std::filesystem::exists(args.target, ec)) {
    ctx.err << "inloop backup: " << args.target << " exists; name a new file\n";
    return kExitUsage;
  }
  const std::string tmp = args.target + ".tmp";
  std::filesystem::remove(tmp, ec);
  std::string failed = copyStore(source, tmp);
  if (failed.empty() && ::chmod(tmp.c_str(), 0600) != 0) {
    failed = "chmod " + tmp + ": " + std::strerror(errno);
  }
  if (failed.empty() && !fsyncPath(tmp)) {
    failed = "fsync " + tmp + ": " + std::strerror(errno);
  }
  if (failed.empty() && ::rename(tmp.c_str(), args.target.c_str()) != 0) {
    failed = "rename " + tmp + ": " + std::strerror(errno);
  }
  if (!failed.empty()) {
    std::filesystem::remove(tmp, ec);
    ctx.err << "inloop backup: " << failed << "\n";
    return kExitFailure;
  }
  std::filesystem::path folder = std::filesystem::absolute(args.target, ec).parent_path();
  (void)fsyncPath(folder.string(), true);
  ctx.out << "inloop backup: " << source << " copied to " << args.target << " ("
          << std::filesystem::file_size(args.target, ec) << " bytes, integrity ok)\n";
  return kExitOk;
}

}  // namespace inloop::gateway
