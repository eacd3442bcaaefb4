#pragma once

// Store fault hook: a SQLite VFS shim ("inloop-faults") that wraps the default
// VFS and, when armed, refuses writes to files under a path prefix the way a
// full disk (ENOSPC -> SQLITE_FULL) or a failing disk (SQLITE_IOERR_WRITE)
// would. It is compiled into the product so the fault suite can drive the real
// store, the real daemon and SQLite's own error handling; the product never
// installs it, and once installed it costs one indirection per file operation
// while disarmed.
//
// Usage (tests): installStoreFaultHook() BEFORE the store is opened (it becomes
// SQLite's default VFS for connections opened afterwards), then
// setStoreFault(StoreFault::kDiskFull, dataDir) ... setStoreFault(kNone).
// Only xWrite is refused; reads, locks, syncs and shared memory pass through.
// Thread safety: every function may be called from any thread at any time.

#include <cstdint>
#include <string>

namespace inloop::gateway {

enum class StoreFault {
  kNone,      // everything passes through
  kDiskFull,  // writes fail with SQLITE_FULL (what SQLite reports on ENOSPC)
  kIoError,   // writes fail with SQLITE_IOERR_WRITE
};

// Registers the shim as SQLite's default VFS (idempotent). false when SQLite
// refused to register it (then nothing changed).
bool installStoreFaultHook();

// Arms `fault` for files whose path starts with `pathPrefix` ("" = every file
// opened through the shim); kNone disarms. Takes effect on the next write.
void setStoreFault(StoreFault fault, const std::string& pathPrefix = "");

// Writes refused since the hook was installed.
std::uint64_t storeFaultHits();

}  // namespace inloop::gateway
