#pragma once

// Durable file writes, shared by every room that writes files the daemon or an
// operator relies on after a crash (ndjson-dir output, inbox moves, backups,
// key files): whole writes, fsync of a file or a folder, and replace-by-rename.

#include <sys/types.h>

#include <string>
#include <string_view>

#include "fhir/status.h"

namespace inloop::gateway {

// Writes all of `data` to `fd` (retrying EINTR and short writes); false with
// errno set on failure.
bool writeAll(int fd, std::string_view data);

// fsync of the file or, with `directory`, the folder at `path` (a folder's
// fsync makes the renames and creations in it durable); false with errno set.
bool fsyncPath(const std::string& path, bool directory = false);

// Replaces `path` with `text`: written to `tmpPath` (default `path` + ".tmp";
// a folder that is scanned passes a hidden name) with `mode` (set even when the
// temporary file existed; a symlink there is refused), fsynced, renamed over
// `path`, and the folder fsynced. A crash leaves the old file or the new one,
// never a mix. On failure the Status names the step, and the temporary file
// is removed.
fhir::Status writeFileAtomically(const std::string& path, std::string_view text, mode_t mode,
                                 std::string tmpPath = {});

}  // namespace inloop::gateway
