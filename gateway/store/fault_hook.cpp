#include "gateway/store/fault_hook.h"

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "gateway/store/sqlite_util.h"

namespace inloop::gateway {
namespace {

constexpr const char* kVfsName = "inloop-faults";
constexpr std::size_t kMaxPath = 1024;

std::atomic<int> gFault{static_cast<int>(StoreFault::kNone)};
std::atomic<std::uint64_t> gHits{0};
std::mutex gMutex;  // guards gPrefix and the registration
std::string gPrefix;
sqlite3_vfs* gReal = nullptr;
sqlite3_vfs gShim;

// The shim's file: our methods, the real file right behind it.
struct FaultFile {
  sqlite3_file base;
  sqlite3_file* real;
  char path[kMaxPath];  // "" for temporary files (never refused)
};

sqlite3_file* realOf(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f)->real; }

// SQLITE_OK, or the armed fault's code when `file` is under the prefix.
int refusal(const FaultFile& file) {
  const auto fault = static_cast<StoreFault>(gFault.load());
  if (fault == StoreFault::kNone || file.path[0] == 0) return SQLITE_OK;
  {
    std::lock_guard<std::mutex> lock(gMutex);
    if (std::strncmp(file.path, gPrefix.c_str(), gPrefix.size()) != 0) return SQLITE_OK;
  }
  gHits.fetch_add(1);
  return fault == StoreFault::kDiskFull ? SQLITE_FULL : SQLITE_IOERR_WRITE;
}

int shimClose(sqlite3_file* f) {
  sqlite3_file* real = realOf(f);
  const int rc = real->pMethods != nullptr ? real->pMethods->xClose(real) : SQLITE_OK;
  f->pMethods = nullptr;
  return rc;
}
int shimRead(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  return realOf(f)->pMethods->xRead(realOf(f), buf, amount, offset);
}
int shimWrite(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  if (const int rc = refusal(*reinterpret_cast<FaultFile*>(f)); rc != SQLITE_OK) return rc;
  return realOf(f)->pMethods->xWrite(realOf(f), buf, amount, offset);
}
int shimTruncate(sqlite3_file* f, sqlite3_int64 size) {
  return realOf(f)->pMethods->xTruncate(realOf(f), size);
}
int shimSync(sqlite3_file* f, int flags) { return realOf(f)->pMethods->xSync(realOf(f), flags); }
int shimFileSize(sqlite3_file* f, sqlite3_int64* size) {
  return realOf(f)->pMethods->xFileSize(realOf(f), size);
}
int shimLock(sqlite3_file* f, int level) { return realOf(f)->pMethods->xLock(realOf(f), level); }
int shimUnlock(sqlite3_file* f, int level) {
  return realOf(f)->pMethods->xUnlock(realOf(f), level);
}
int shimCheckReservedLock(sqlite3_file* f, int* out) {
  return realOf(f)->pMethods->xCheckReservedLock(realOf(f), out);
}
int shimFileControl(sqlite3_file* f, int op, void* arg) {
  return realOf(f)->pMethods->xFileControl(realOf(f), op, arg);
}
int shimSectorSize(sqlite3_file* f) { return realOf(f)->pMethods->xSectorSize(realOf(f)); }
int shimDeviceCharacteristics(sqlite3_file* f) {
  return realOf(f)->pMethods->xDeviceCharacteristics(realOf(f));
}
int shimShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return realOf(f)->pMethods->xShmMap(realOf(f), region, size, extend, out);
}
int shimShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return realOf(f)->pMethods->xShmLock(realOf(f), offset, n, flags);
}
void shimShmBarrier(sqlite3_file* f) { realOf(f)->pMethods->xShmBarrier(realOf(f)); }
int shimShmUnmap(sqlite3_file* f, int deleteFlag) {
  return realOf(f)->pMethods->xShmUnmap(realOf(f), deleteFlag);
}
int shimFetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  return realOf(f)->pMethods->xFetch(realOf(f), offset, amount, out);
}
int shimUnfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
  return realOf(f)->pMethods->xUnfetch(realOf(f), offset, p);
}

// The shim's methods at `version` 3 (everything) or 1 (no shared memory and
// no mmap, for files whose real methods lack them).
sqlite3_io_methods shimMethods(int version) {
  sqlite3_io_methods m{};
  m.iVersion = version;
  m.xClose = shimClose;
  m.xRead = shimRead;
  m.xWrite = shimWrite;
  m.xTruncate = shimTruncate;
  m.xSync = shimSync;
  m.xFileSize = shimFileSize;
  m.xLock = shimLock;
  m.xUnlock = shimUnlock;
  m.xCheckReservedLock = shimCheckReservedLock;
  m.xFileControl = shimFileControl;
  m.xSectorSize = shimSectorSize;
  m.xDeviceCharacteristics = shimDeviceCharacteristics;
  if (version >= 3) {
    m.xShmMap = shimShmMap;
    m.xShmLock = shimShmLock;
    m.xShmBarrier = shimShmBarrier;
    m.xShmUnmap = shimShmUnmap;
    m.xFetch = shimFetch;
    m.xUnfetch = shimUnfetch;
  }
  return m;
}
const sqlite3_io_methods kMethodsV1 = shimMethods(1);
const sqlite3_io_methods kMethodsV3 = shimMethods(3);

int shimOpen(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* outFlags) {
  auto* file = reinterpret_cast<FaultFile*>(f);
  file->base.pMethods = nullptr;
  file->real = reinterpret_cast<sqlite3_file*>(file + 1);
  file->path[0] = 0;
  if (name != nullptr) {
    std::strncpy(file->path, name, kMaxPath - 1);
    file->path[kMaxPath - 1] = 0;
  }
  const int rc = gReal->xOpen(gReal, name, file->real, flags, outFlags);
  if (file->real->pMethods != nullptr) {
    file->base.pMethods = file->real->pMethods->iVersion >= 3 ? &kMethodsV3 : &kMethodsV1;
  }
  return rc;
}
int shimDelete(sqlite3_vfs*, const char* name, int syncDir) {
  return gReal->xDelete(gReal, name, syncDir);
}
int shimAccess(sqlite3_vfs*, const char* name, int flags, int* out) {
  return gReal->xAccess(gReal, name, flags, out);
}
int shimFullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return gReal->xFullPathname(gReal, name, n, out);
}
void* shimDlOpen(sqlite3_vfs*, const char* name) { return gReal->xDlOpen(gReal, name); }
void shimDlError(sqlite3_vfs*, int n, char* out) { gReal->xDlError(gReal, n, out); }
void (*shimDlSym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return gReal->xDlSym(gReal, handle, symbol);
}
void shimDlClose(sqlite3_vfs*, void* handle) { gReal->xDlClose(gReal, handle); }
int shimRandomness(sqlite3_vfs*, int n, char* out) { return gReal->xRandomness(gReal, n, out); }
int shimSleep(sqlite3_vfs*, int micros) { return gReal->xSleep(gReal, micros); }
int shimCurrentTime(sqlite3_vfs*, double* out) { return gReal->xCurrentTime(gReal, out); }
int shimGetLastError(sqlite3_vfs*, int n, char* out) {
  return gReal->xGetLastError != nullptr ? gReal->xGetLastError(gReal, n, out) : 0;
}
int shimCurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return gReal->xCurrentTimeInt64(gReal, out);
}

}  // namespace

bool installStoreFaultHook() {
  std::lock_guard<std::mutex> lock(gMutex);
  if (gReal != nullptr) return true;
  sqlite::configureLibrary();
  if (sqlite3_initialize() != SQLITE_OK) return false;
  sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
  if (real == nullptr || real->iVersion < 2) return false;
  gShim = sqlite3_vfs{};
  gShim.iVersion = 2;
  gShim.szOsFile = static_cast<int>(sizeof(FaultFile)) + real->szOsFile;
  gShim.mxPathname = real->mxPathname;
  gShim.zName = kVfsName;
  gShim.xOpen = shimOpen;
  gShim.xDelete = shimDelete;
  gShim.xAccess = shimAccess;
  gShim.xFullPathname = shimFullPathname;
  gShim.xDlOpen = shimDlOpen;
  gShim.xDlError = shimDlError;
  gShim.xDlSym = shimDlSym;
  gShim.xDlClose = shimDlClose;
  gShim.xRandomness = shimRandomness;
  gShim.xSleep = shimSleep;
  gShim.xCurrentTime = shimCurrentTime;
  gShim.xGetLastError = shimGetLastError;
  gShim.xCurrentTimeInt64 = shimCurrentTimeInt64;
  gReal = real;
  if (sqlite3_vfs_register(&gShim, 1) != SQLITE_OK) {
    gReal = nullptr;
    return false;
  }
  return true;
}

void setStoreFault(StoreFault fault, const std::string& pathPrefix) {
  {
    std::lock_guard<std::mutex> lock(gMutex);
    gPrefix = pathPrefix;
  }
  gFault.store(static_cast<int>(fault));
}

std::uint64_t storeFaultHits() { return gHits.load(); }

}  // namespace inloop::gateway
